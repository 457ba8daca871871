import { isDeepStrictEqual } from 'node:util';
import { PipelineError, PipelineSpecError } from '../../common/errors.ts';
import type { RunState, StepState } from '../../common/pipeline-progress.ts';
import type { ResolvedPipeline, ResolvedStep } from '../../common/resolved-pipeline.ts';
import type { StepOutputs } from '../../common/step-activities.ts';

/**
 * `mlp rerun`: which steps of a new run of a recorded spec execute, and which reuse the recorded
 * outputs of the earlier run. Pure, so the rules are tested without a server; the workflow still
 * verifies each reused step's artifacts before trusting them.
 */

export type RerunStart = { from: string; failed?: undefined } | { from?: undefined; failed: true };

/** What the earlier run recorded: its state and, per step, its state and outputs. */
export interface RecordedRun {
  workflowId: string;
  state: RunState;
  steps: readonly { id: string; state: StepState; outputs?: StepOutputs }[];
}

export interface RerunPlan {
  /** The steps the rerun starts from (`--from`, the failed steps, and steps whose definition changed). */
  from: string[];
  /** Every step that runs: `from`, everything downstream, and steps with nothing to reuse. */
  execute: string[];
  /** Recorded outputs of the steps that are reused, by step id. */
  reuse: Record<string, StepOutputs>;
}

/** States whose recorded outputs are a finished step's result. */
const FINISHED: ReadonlySet<StepState> = new Set(['succeeded', 'cached', 'reused']);

/** The given steps and every step that needs one of them, directly or through others. */
export function withDownstream(steps: readonly Pick<ResolvedStep, 'id' | 'needs'>[], ids: Iterable<string>): Set<string> {
  const marked = new Set(ids);
  for (let grew = true; grew; ) {
    grew = false;
    for (const step of steps) {
      if (!marked.has(step.id) && step.needs.some((need) => marked.has(need))) {
        marked.add(step.id);
        grew = true;
      }
    }
  }
  return marked;
}

/** Reads `--from` and `--failed`: exactly one of them. */
export function rerunStart(flags: { from?: string; failed?: boolean }): RerunStart {
  if (flags.from !== undefined && flags.failed === true) throw new PipelineSpecError('mlp rerun: give either --from <step> or --failed, not both');
  if (flags.from !== undefined) return { from: flags.from };
  if (flags.failed === true) return { failed: true };
  throw new PipelineSpecError('mlp rerun: say where to start: --from <step> or --failed');
}

function changed(before: ResolvedStep | undefined, after: ResolvedStep): boolean {
  if (before === undefined) return true;
  return before.uses !== after.uses || !isDeepStrictEqual(before.with, after.with) || !isDeepStrictEqual([...before.needs].sort(), [...after.needs].sort());
}

/**
 * The plan of a rerun of `recorded` (the earlier run's spec) as `spec` (the same spec, or the
 * pipeline re-resolved with `--set`): a step whose definition changed runs again like the start
 * step, and so does everything downstream of either.
 */
export function planRerun(recorded: ResolvedPipeline, spec: ResolvedPipeline, run: RecordedRun, start: RerunStart): RerunPlan {
  const ids = spec.steps.map((step) => step.id);
  let from: string[];
  if (start.from !== undefined) {
    if (!ids.includes(start.from)) {
      throw new PipelineSpecError(`Rerunning ${run.workflowId} failed: --from ${start.from}: pipeline "${spec.name}" has no such step (steps: ${ids.join(', ')})`);
    }
    from = [start.from];
  } else {
    if (run.state !== 'failed') {
      throw new PipelineError(`Rerunning ${run.workflowId} failed: --failed, but the run ${run.state === 'running' ? 'is still running' : `did not fail (it ${run.state === 'succeeded' ? 'succeeded' : 'was cancelled'})`}; use --from <step>`);
    }
    from = run.steps.filter((step) => step.state === 'failed').map((step) => step.id);
    if (from.length === 0) {
      throw new PipelineError(`Rerunning ${run.workflowId} failed: --failed, but no step failed (the run was terminated or timed out); use --from <step>`);
    }
  }
  const before = new Map(recorded.steps.map((step) => [step.id, step]));
  const redefined = spec.steps.filter((step) => changed(before.get(step.id), step)).map((step) => step.id);
  const rerun = withDownstream(spec.steps, [...from, ...redefined]);
  const recordedSteps = new Map(run.steps.map((step) => [step.id, step]));
  const reuse: Record<string, StepOutputs> = {};
  for (const id of ids) {
    const step = recordedSteps.get(id);
    if (!rerun.has(id) && step?.outputs !== undefined && FINISHED.has(step.state)) reuse[id] = step.outputs;
  }
  // A step with nothing to reuse (it never finished) runs, and so do the steps after it.
  const execute = withDownstream(spec.steps, ids.filter((id) => reuse[id] === undefined));
  for (const id of execute) delete reuse[id];
  return {
    from: [...new Set([...from, ...redefined])],
    execute: ids.filter((id) => execute.has(id)),
    reuse,
  };
}

/** The params of a recorded spec as `--set` arguments, so a re-resolution starts from them. */
export function paramSettings(params: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(params).map(([name, value]) => `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
}
