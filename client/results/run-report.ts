import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { MODEL_WORKFLOWS, ModelDescriptionSchema, type VersionRecord } from '../../common/model-registry.ts';
import type { TrialProgress } from '../../common/pipeline-progress.ts';
import type { SweepSelect } from '../../common/sweep.ts';
import { workflowTaskQueue } from '../../common/task-queues.ts';
import { workflowUiUrl, type ClientConfig } from '../config.ts';
import { loadRun } from './run-results.ts';
import { fetchObjects } from './stored-objects.ts';

/**
 * Everything `mlp report` shows about one run, gathered once: the run and its steps (from the
 * view `mlp show` prints), each evaluate step's report.md and plots (downloaded through the
 * worker's presigned URLs), sweeps, registry versions and lineage. The HTML is made from this
 * (client/results/run-report-html.ts) and `--json` prints it, bytes of plots left out.
 */

export interface ReportStep {
  id: string;
  uses: string;
  state: string;
  attempt?: number;
  startedAt?: string;
  endedAt?: string;
  seconds?: number;
  /** Cache hit, reused, ran, or ran again and why. */
  execution: string;
  error?: string;
}

export interface ReportPlot {
  name: string;
  key: string;
}

export interface EvaluationSection {
  step: string;
  metrics: Record<string, number>;
  threshold?: number;
  reportKey?: string;
  /** report.md as stored; absent when the step has not written it (yet). */
  markdown?: string;
  plots: ReportPlot[];
}

export interface SweepSection {
  step: string;
  select?: SweepSelect;
  trials: TrialProgress[];
}

export interface Publication {
  step: string;
  name: string;
  version: number;
  promoted: boolean;
  reason: string;
  record?: VersionRecord;
  /** Why the registry record could not be read. */
  recordError?: string;
}

export interface Lineage {
  datasetHash?: string;
  manifestHash?: string;
  weightsSha256?: string;
  /** Packaged code of run steps (`sha256:<hex>`), by step. */
  code: Record<string, string>;
  /** What the worker that published ran (git commit or MLP_CODE_VERSION), from the registry. */
  codeVersion?: string;
}

export interface RunReport {
  workflowId: string;
  runId: string;
  pipeline: string;
  description?: string;
  /** Temporal's execution status. */
  status: string;
  state: string;
  inProgress: boolean;
  startedAt: string;
  endedAt?: string;
  seconds?: number;
  url: string;
  specHash: string;
  params: Record<string, unknown>;
  failedStep?: string;
  steps: ReportStep[];
  /** The first evaluate step's metrics: what the page leads with. */
  headline?: { step: string; metrics: Record<string, number> };
  evaluations: EvaluationSection[];
  sweeps: SweepSection[];
  publications: Publication[];
  lineage: Lineage;
  generatedAt: string;
}

/** A report and the bytes of the objects it shows (report plots), by key. */
export interface LoadedReport {
  report: RunReport;
  objects: Map<string, Buffer>;
}

const numbers = z.record(z.string(), z.number());
const evaluateOutputsSchema = z.object({ metrics: numbers, threshold: z.number().optional(), report: z.string().optional(), plots: z.record(z.string(), z.string()).default({}) }).loose();
const publishOutputsSchema = z.object({ version: z.number().int(), promoted: z.boolean(), reason: z.string() }).loose();

export function secondsBetween(start: string | undefined, end: string | undefined): number | undefined {
  if (!start || !end) return undefined;
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isFinite(ms) && ms >= 0 ? ms / 1000 : undefined;
}

/** How a step came by its outputs, in words. */
export function describeExecution(step: { state: string; cached: boolean; startedAt?: string; reusedFrom?: string; reuseMiss?: string; cacheMiss?: string }, cache: boolean, cacheOffReason?: string): string {
  if (step.state === 'cached' || step.cached) return 'cache hit';
  if (step.state === 'reused') return `reused from ${step.reusedFrom ?? 'an earlier run'}`;
  if (step.reuseMiss !== undefined) return `ran again: ${step.reuseMiss}`;
  if (step.cacheMiss !== undefined) return `ran again: ${step.cacheMiss}`;
  if (step.state === 'pending') return 'not started';
  if (step.state === 'cancelled' && step.startedAt === undefined) return 'not started (run ended)';
  const ran = step.state === 'running' ? 'running' : 'ran';
  if (!cache) return `${ran} (cache off${cacheOffReason ? `: ${cacheOffReason}` : ''})`;
  return step.state === 'running' ? ran : `${ran} (cache miss)`;
}

function stringOutput(outputs: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = outputs?.[name];
  return typeof value === 'string' ? value : undefined;
}

async function registryRecord(client: Client, config: ClientConfig, name: string, version: number): Promise<{ record?: VersionRecord; recordError?: string }> {
  try {
    const result: unknown = await client.workflow.execute(MODEL_WORKFLOWS.describe, {
      taskQueue: workflowTaskQueue(config.taskQueuePrefix),
      workflowId: `models-show-${name}-${randomUUID().slice(0, 8)}`,
      args: [{ name, version }],
    });
    const record = ModelDescriptionSchema.parse(result).record;
    return record === null ? { recordError: `version ${version} of ${name} is not in the registry` } : { record };
  } catch (error) {
    return { recordError: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Hashes that say what made the model: from the steps' outputs (download, subset, train), the
 * run steps' packaged code (their resolved `with.code`), and what the registry recorded when
 * the model was published (the worker's code version).
 */
export function lineageOf(
  steps: readonly { id: string; uses: string; outputs?: Record<string, unknown> }[],
  specSteps: ReadonlyMap<string, { with: Record<string, unknown> }>,
  publications: readonly Publication[],
): Lineage {
  const first = (name: string): string | undefined => steps.map((step) => stringOutput(step.outputs, name)).find((value) => value !== undefined);
  const recorded = publications.flatMap((publication) => (publication.record === undefined ? [] : [publication.record.lineage]));
  const code: Record<string, string> = {};
  for (const step of steps) {
    const packaged = specSteps.get(step.id)?.with['code'];
    if (step.uses === 'run' && typeof packaged === 'string') code[step.id] = packaged;
  }
  for (const publication of publications) {
    const published = publication.record?.lineage.code;
    if (published !== undefined && !Object.values(code).includes(published)) code[publication.step] = published;
  }
  const datasetHash = first('datasetHash') ?? recorded.find((entry) => entry.datasetHash)?.datasetHash;
  const manifestHash = first('manifestHash') ?? recorded.find((entry) => entry.manifestHash)?.manifestHash;
  const weightsSha256 = first('weightsSha256');
  const codeVersion = recorded.find((entry) => entry.codeVersion)?.codeVersion;
  return {
    ...(datasetHash === undefined ? {} : { datasetHash }),
    ...(manifestHash === undefined ? {} : { manifestHash }),
    ...(weightsSha256 === undefined ? {} : { weightsSha256 }),
    code,
    ...(codeVersion === undefined ? {} : { codeVersion }),
  };
}

/** Gathers the report of `workflowId` (its latest run, or `runId`). */
export async function loadRunReport(client: Client, config: ClientConfig, workflowId: string, runId?: string): Promise<LoadedReport> {
  const { view, start } = await loadRun(client, workflowId, runId);
  const specSteps = new Map(start.spec.steps.map((step) => [step.id, step]));
  const steps: ReportStep[] = view.steps.map((step) => {
    const spec = specSteps.get(step.id);
    const seconds = secondsBetween(step.startedAt, step.endedAt);
    return {
      id: step.id,
      uses: step.uses,
      state: step.state,
      ...(step.attempt === undefined ? {} : { attempt: step.attempt }),
      ...(step.startedAt === undefined ? {} : { startedAt: step.startedAt }),
      ...(step.endedAt === undefined ? {} : { endedAt: step.endedAt }),
      ...(seconds === undefined ? {} : { seconds }),
      execution: describeExecution(step, spec?.cache ?? false, spec?.cacheOffReason),
      ...(step.error === undefined ? {} : { error: step.error }),
    };
  });

  const evaluations: EvaluationSection[] = [];
  for (const step of view.steps) {
    if (step.uses !== 'evaluate') continue;
    const parsed = evaluateOutputsSchema.safeParse(step.outputs);
    if (!parsed.success) {
      evaluations.push({ step: step.id, metrics: {}, plots: [] });
      continue;
    }
    const { metrics, threshold, report, plots } = parsed.data;
    evaluations.push({
      step: step.id,
      metrics,
      ...(threshold === undefined ? {} : { threshold }),
      ...(report === undefined ? {} : { reportKey: report }),
      plots: Object.entries(plots).map(([name, key]) => ({ name, key })),
    });
  }
  const objects = await fetchObjects(
    client,
    config,
    evaluations.flatMap((evaluation) => [...(evaluation.reportKey === undefined ? [] : [evaluation.reportKey]), ...evaluation.plots.map((plot) => plot.key)]),
  );
  for (const evaluation of evaluations) {
    const markdown = evaluation.reportKey === undefined ? undefined : objects.get(evaluation.reportKey);
    if (markdown !== undefined) evaluation.markdown = markdown.toString('utf8');
  }

  const sweeps: SweepSection[] = view.steps.flatMap((step) => {
    if (step.trials === undefined) return [];
    const select = specSteps.get(step.id)?.sweep?.select;
    return [{ step: step.id, ...(select === undefined ? {} : { select }), trials: step.trials }];
  });

  const publications: Publication[] = [];
  for (const step of view.steps) {
    if (step.uses !== 'publish') continue;
    const outputs = publishOutputsSchema.safeParse(step.outputs);
    const name = specSteps.get(step.id)?.with['name'];
    if (!outputs.success || typeof name !== 'string') continue;
    const { version, promoted, reason } = outputs.data;
    publications.push({ step: step.id, name, version, promoted, reason, ...(await registryRecord(client, config, name, version)) });
  }

  const lineage = lineageOf(view.steps, specSteps, publications);

  const first = evaluations.find((evaluation) => Object.keys(evaluation.metrics).length > 0);
  const seconds = secondsBetween(view.startedAt, view.endedAt);
  const report: RunReport = {
    workflowId,
    runId: view.runId,
    pipeline: view.pipeline,
    ...(start.spec.description === undefined ? {} : { description: start.spec.description }),
    status: view.status,
    state: view.state,
    inProgress: view.status === 'RUNNING',
    startedAt: view.startedAt,
    ...(view.endedAt === undefined ? {} : { endedAt: view.endedAt }),
    ...(seconds === undefined ? {} : { seconds }),
    url: workflowUiUrl(config, workflowId, view.runId),
    specHash: view.specHash,
    params: start.spec.params,
    ...(view.failedStep === undefined ? {} : { failedStep: view.failedStep }),
    steps,
    ...(first === undefined ? {} : { headline: { step: first.step, metrics: first.metrics } }),
    evaluations,
    sweeps,
    publications,
    lineage,
    generatedAt: new Date().toISOString(),
  };
  return { report, objects };
}
