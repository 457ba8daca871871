import { executionLevels } from '../../common/pipeline-spec/index.ts';
import type { ScheduleSpec } from '../../common/pipeline-spec/index.ts';
import type { ResolvedPipeline, RetrySpec } from '../../common/resolved-pipeline.ts';
import { findStepKind } from '../../common/step-kinds/index.ts';
import { findReferences } from '../../common/expressions.ts';
import { formatTrialMatrix, SWEEP_CHILD_WORKFLOW_THRESHOLD, type ResolvedSweep } from '../../common/sweep.ts';
import { capacityWarnings, estimateRunHistory, type HistoryEstimate } from '../../common/pipeline-spec/capacity.ts';
import type { ResolvedForeach } from '../../common/resolved-pipeline.ts';
import { TEMPORAL_LIMITS } from '../../common/scale-limits.ts';
import { PACKAGED_CODE } from '../../common/step-kinds/run.ts';
import { formatCodeSize } from './code-package.ts';
import type { RunCode } from './run-code.ts';

/** What `mlp plan` shows: the resolved DAG in execution order with each step's settings. */
export interface PipelinePlan {
  name: string;
  specHash: string;
  params: Record<string, unknown>;
  schedule?: ScheduleSpec;
  /** Steps of one level may run in parallel; level n waits only for lower levels. */
  levels: string[][];
  steps: PlannedStep[];
  /** What a run costs its history at most, against the server's per-workflow limits; warnings past their warning thresholds. */
  capacity: HistoryEstimate & { limits: typeof TEMPORAL_LIMITS; warnings: string[] };
}

export interface PlannedStep {
  id: string;
  uses: string;
  level: number;
  needs: string[];
  queue: string;
  timeout: string;
  heartbeatTimeout?: string;
  retry: RetrySpec;
  cache: boolean;
  cacheOffReason?: string;
  /** Static part of the cache key; artifact inputs are replaced by their content hash at run time. */
  cacheKey?: { kind: string; version: string; inputs: Record<string, unknown>; artifactInputs: string[]; resolvedAtRunTime: string[] };
  /** A sweep: every trial's settings, how many run at once, the selection rule. */
  sweep?: ResolvedSweep & { childWorkflows: boolean };
  /** A fan-out over a list an upstream step outputs. */
  foreach?: ResolvedForeach;
  /** A run step's packaged code: its archive's sha256, and the folder it was packaged from (when packaged now). */
  code?: { sha256: string; folder?: string; files?: number; bytes?: number };
}

/** The packaged code of a run step, from its resolved `with.code` and what packaging reported. */
function plannedCode(code: unknown, packaged: readonly RunCode[]): PlannedStep['code'] {
  const sha256 = typeof code === 'string' ? PACKAGED_CODE.exec(code)?.[1] : undefined;
  if (sha256 === undefined) return undefined;
  const found = packaged.find((entry) => entry.sha256 === sha256);
  return found === undefined ? { sha256 } : { sha256, folder: found.folder, files: found.files, bytes: found.bytes };
}

/** `code` (from loadPipelineFile) adds where each run step's code was packaged from. */
export function planPipeline(pipeline: ResolvedPipeline, schedule?: ScheduleSpec, code: readonly RunCode[] = []): PipelinePlan {
  const levels = executionLevels(pipeline.steps);
  const estimate = estimateRunHistory(pipeline);
  const levelOf = new Map(levels.flatMap((ids, level) => ids.map((id) => [id, level] as const)));
  const order = levels.flat();
  const byId = new Map(pipeline.steps.map((step) => [step.id, step]));
  const steps = order.flatMap((id): PlannedStep[] => {
    const step = byId.get(id);
    if (step === undefined) return [];
    const kind = findStepKind(step.uses);
    const packaged = plannedCode(step.with['code'], code);
    const runTime = [...new Set(findReferences(step.with).filter(({ reference }) => reference.kind !== 'matrix').map(({ reference }) => reference.raw))];
    return [
      {
        id,
        uses: step.uses,
        level: levelOf.get(id) ?? 0,
        needs: step.needs,
        queue: step.queue,
        timeout: step.timeout,
        ...(step.heartbeatTimeout === undefined ? {} : { heartbeatTimeout: step.heartbeatTimeout }),
        retry: step.retry,
        cache: step.cache,
        ...(step.cacheOffReason === undefined ? {} : { cacheOffReason: step.cacheOffReason }),
        ...(step.sweep === undefined ? {} : { sweep: { ...step.sweep, childWorkflows: step.sweep.trials.length > SWEEP_CHILD_WORKFLOW_THRESHOLD } }),
        ...(step.foreach === undefined ? {} : { foreach: step.foreach }),
        ...(packaged === undefined ? {} : { code: packaged }),
        ...(step.cache && kind !== undefined
          ? {
              cacheKey: {
                kind: kind.uses,
                version: kind.version,
                inputs: step.with,
                artifactInputs: kind.artifactInputs.filter((name) => step.with[name] !== undefined),
                resolvedAtRunTime: runTime,
              },
            }
          : {}),
      },
    ];
  });
  return {
    name: pipeline.name,
    specHash: pipeline.specHash,
    params: pipeline.params,
    ...(schedule === undefined ? {} : { schedule }),
    levels,
    steps,
    capacity: { ...estimate, limits: TEMPORAL_LIMITS, warnings: capacityWarnings(estimate) },
  };
}

export function formatPlan(plan: PipelinePlan): string {
  const lines = [`pipeline ${plan.name} (spec ${plan.specHash.slice(0, 12)})`];
  const params = Object.entries(plan.params).map(([name, value]) => `${name}=${JSON.stringify(value)}`);
  if (params.length > 0) lines.push(`params: ${params.join(' ')}`);
  if (plan.schedule) lines.push(`schedule: ${plan.schedule.cron} (${plan.schedule.timeZone}, overlap ${plan.schedule.overlap})`);
  const { capacity } = plan;
  lines.push(
    `capacity: at most ${capacity.maxParallel} steps at once; history up to ~${capacity.events} events (limit ${capacity.limits.historyEvents}), ` +
      `~${(capacity.bytes / 1024 / 1024).toFixed(1)} MB (limit ${capacity.limits.historyBytes / 1024 / 1024} MB)` +
      `${capacity.childWorkflows > 0 ? `; up to ${capacity.childWorkflows} child workflows${capacity.groupedSteps > 0 ? ` (${capacity.groupedSteps} steps in groups)` : ''}` : ''}`,
  );
  for (const warning of capacity.warnings) lines.push(`warning: ${warning}`);
  lines.push('', 'order (steps on one level run in parallel):');
  plan.levels.forEach((ids, level) => lines.push(`  ${level}: ${ids.join(', ')}`));
  lines.push('', 'steps:');
  for (const step of plan.steps) {
    const retry = `${step.retry.maximumAttempts} attempts, ${step.retry.initialInterval} x${step.retry.backoffCoefficient}`;
    lines.push(`  ${step.id} (${step.uses}) queue=${step.queue} timeout=${step.timeout} retry=${retry} cache=${step.cache ? 'on' : `off${step.cacheOffReason ? ` (${step.cacheOffReason})` : ''}`}`);
    lines.push(`    needs: ${step.needs.length > 0 ? step.needs.join(', ') : '-'}`);
    if (step.code) {
      const { sha256, folder, files, bytes } = step.code;
      const from = folder === undefined ? '' : ` from ${folder}${files === undefined || bytes === undefined ? '' : ` (${files} files, ${formatCodeSize(bytes)})`}`;
      lines.push(`    code: sha256:${sha256}${from}`);
    }
    if (step.sweep) {
      const { sweep } = step;
      const select = sweep.select ? `select ${sweep.select.goal} ${sweep.select.metric} (ties: lowest trial)` : 'no select (outputs.trials only)';
      lines.push(
        `    sweep: ${sweep.trials.length} trials, ${sweep.maxParallel} at once, ${select}, needs ${sweep.minSuccess} to succeed${sweep.childWorkflows ? ', each trial a child workflow' : ''}`,
      );
      for (const trial of sweep.trials) lines.push(`      #${trial.index}: ${formatTrialMatrix(trial.matrix)}`);
    }
    if (step.foreach) {
      const { foreach } = step;
      lines.push(`    foreach: ${foreach.items}, ${foreach.maxParallel} at once, needs ${foreach.minSuccess ?? 'all'} to succeed`);
    }
    if (step.cacheKey) {
      const key = step.cacheKey;
      lines.push(`    cache key: ${key.kind}@${key.version} + inputs ${JSON.stringify(key.inputs)}`);
      if (key.artifactInputs.length > 0) lines.push(`      by content hash: ${key.artifactInputs.join(', ')}`);
      if (key.resolvedAtRunTime.length > 0) lines.push(`      at run time: ${key.resolvedAtRunTime.join(' ')}`);
    }
  }
  return lines.join('\n');
}
