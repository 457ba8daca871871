import { ApplicationFailure } from '@temporalio/workflow';
import type { StepKind } from '../common/step-kind.ts';
import type { StepOutputs } from '../common/step-activities.ts';
import { formatTrialMatrix, metricValue, selectTrial, type ResolvedSweep, type TrialRecord } from '../common/sweep.ts';

/**
 * The fan-out and fan-in of a sweep step, free of workflow commands so they can be unit-tested
 * as plain async code: a pool that starts trials in index order with at most `maxParallel`
 * running, and the rule that turns the trials' results into the step's outputs.
 */

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Runs `start` for every item, at most `limit` at once, starting them in order (item n+limit
 * starts when one of the first n+limit-1 settled). Never rejects: one settled result per item,
 * in item order. Deterministic in a workflow: the order of starts follows the order of
 * completions the history records.
 */
export async function runPool<T, R>(items: readonly T[], limit: number, start: (item: T, index: number) => Promise<R>): Promise<Settled<R>[]> {
  const results: Settled<R>[] = new Array<Settled<R>>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      const item = items[index];
      if (item === undefined) continue;
      try {
        results[index] = { ok: true, value: await start(item, index) };
      } catch (error) {
        results[index] = { ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}

/** What one trial produced (or why not). */
export interface TrialResult {
  outputs?: StepOutputs;
  cached: boolean;
  cacheKey?: string;
  /** Set when the trial failed; `cancelled` when it was cancelled rather than failed. */
  error?: string;
  cancelled?: boolean;
}

/** Thrown (as its failure type) when fewer trials succeeded than the sweep needs, or no trial has the select metric. */
export const SWEEP_FAILED_ERROR = 'SweepFailedError';

/**
 * The trial records and the step's outputs: the selected trial's outputs plus `trials` and
 * `selectedTrial` (`{ index, matrix, metric }`), or only `trials` without a `select`. A trial that succeeded without a finite select metric counts as
 * failed. Throws a non-retryable SweepFailedError naming the failed trials when fewer than
 * `minSuccess` succeeded.
 */
export function fanIn(stepId: string, kind: Pick<StepKind, 'metrics'>, sweep: ResolvedSweep, results: readonly TrialResult[]): { outputs: StepOutputs; trials: TrialRecord[] } {
  const trials: TrialRecord[] = sweep.trials.map(({ index, matrix }) => {
    const result = results[index] ?? { cached: false, error: 'never ran' };
    const base = { index, matrix, selected: false };
    if (result.outputs === undefined) return { ...base, status: result.cancelled === true ? 'cancelled' : 'failed', error: result.error ?? 'no outputs' };
    const status = 'succeeded';
    if (sweep.select === undefined) return { ...base, status };
    const metric = metricValue(kind, result.outputs, sweep.select.metric);
    if (metric === undefined) return { ...base, status: 'failed', error: `reported no number for select metric "${sweep.select.metric}"` };
    return { ...base, status, metric };
  });
  const succeeded = trials.filter((trial) => trial.status === 'succeeded');
  if (succeeded.length < sweep.minSuccess) {
    const failed = trials.filter((trial) => trial.error !== undefined);
    const reasons = failed.slice(0, 5).map((trial) => `#${trial.index} (${formatTrialMatrix(trial.matrix)}): ${trial.error ?? ''}`);
    throw ApplicationFailure.create({
      type: SWEEP_FAILED_ERROR,
      nonRetryable: true,
      message:
        `${failed.length} of ${trials.length} trials of sweep "${stepId}" failed, ${succeeded.length} succeeded (needs ${sweep.minSuccess}): ` +
        `${reasons.join('; ')}${failed.length > reasons.length ? `; and ${failed.length - reasons.length} more` : ''}`,
      details: [{ stepId, trials }],
    });
  }
  if (sweep.select === undefined) return { outputs: { trials }, trials };
  const winner = selectTrial(succeeded, sweep.select.goal);
  const selected = winner === undefined ? undefined : results[winner.index]?.outputs;
  if (winner === undefined || selected === undefined) {
    throw ApplicationFailure.create({ type: SWEEP_FAILED_ERROR, nonRetryable: true, message: `No trial of sweep "${stepId}" reported select metric "${sweep.select.metric}"` });
  }
  winner.selected = true;
  const selectedTrial = { index: winner.index, matrix: winner.matrix, ...(winner.metric === undefined ? {} : { metric: winner.metric }), select: sweep.select };
  return { outputs: { ...selected, trials, selectedTrial }, trials };
}
