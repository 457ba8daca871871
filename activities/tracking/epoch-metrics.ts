import type { StepTracking } from '../../common/tracking.ts';
import { trackingProblem, requiredTrackingFailure } from './tracking-errors.ts';
import type { MlflowClient } from './mlflow-client.ts';
import { trialRun } from './trial-runs.ts';

/** Logs one finished epoch's metrics; never throws unless tracking is required. */
export type EpochMetricsLogger = (epoch: number, metrics: Record<string, number>) => Promise<void>;

export interface EpochMetricsOptions {
  client: MlflowClient;
  tracking: StepTracking;
  stepId: string;
  log: { warn(message: string, attrs?: Record<string, unknown>): void };
}

/**
 * Per-epoch train metrics into the step's MLflow run (the trial's nested run in a sweep) as
 * `<stepId>.<metric>` with step = epoch. Idempotent across activity retries: before the first
 * point of an attempt it reads the metric history and skips every epoch already logged (MLflow
 * keeps two points of the same step when their values differ, and a redone epoch's value may).
 * Timestamps are deterministic per (run, step), so a point re-sent after a lost answer is the
 * identical row, which MLflow stores once. After one failure the attempt stops logging (a
 * tracking server that is down must not slow every epoch) unless tracking is required.
 */
export function epochMetricsLogger({ client, tracking, stepId, log }: EpochMetricsOptions): EpochMetricsLogger {
  let target: Promise<{ runId: string; logged: Map<string, Set<number>>; startTime: number }> | undefined;
  let broken = false;
  const open = async () => {
    const run = tracking.trial === undefined ? await client.getRun(tracking.runId) : await trialRun(client, tracking, stepId);
    return { runId: run.info.run_id, logged: new Map<string, Set<number>>(), startTime: Number(run.info.start_time ?? 0) };
  };
  return async (epoch, metrics) => {
    if (broken) return;
    try {
      target ??= open();
      const { runId, logged, startTime } = await target;
      const points = [];
      for (const [name, value] of Object.entries(metrics)) {
        if (!Number.isFinite(value)) continue;
        const key = `${stepId}.${name}`;
        let steps = logged.get(key);
        if (steps === undefined) {
          steps = new Set((await client.metricHistory(runId, key)).map((point) => Number(point.step)));
          logged.set(key, steps);
        }
        if (steps.has(epoch)) continue;
        points.push({ key, value, step: epoch, timestamp: startTime + epoch });
      }
      if (points.length > 0) await client.logBatch(runId, { metrics: points });
      for (const point of points) logged.get(point.key)?.add(epoch);
    } catch (error) {
      const problem = trackingProblem(error);
      if (tracking.required) throw requiredTrackingFailure(problem);
      broken = true;
      target = undefined;
      log.warn('Epoch metrics not tracked in MLflow; training goes on', { stepId, epoch, error: problem });
    }
  };
}
