import type { StepTracking } from '../../common/tracking.ts';
import { trackingProblem, requiredTrackingFailure } from './tracking-errors.ts';
import type { MlflowClient, MlflowMetric } from './mlflow-client.ts';
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
 * The epochs of one MLflow run, written so that nothing is logged twice: before the first point
 * of a key it reads that metric's history and skips every epoch already there (MLflow keeps two
 * points of the same step when their values differ, and a redone epoch's value may). Timestamps
 * are deterministic per (run, step): the run's start time + the epoch in ms, so a point re-sent
 * after a lost answer is the identical row, which MLflow stores once.
 */
export class EpochWriter {
  private readonly logged = new Map<string, Set<number>>();

  constructor(
    private readonly client: MlflowClient,
    private readonly runId: string,
    private readonly startTime: number,
    private readonly stepId: string,
  ) {}

  /** Logs `<stepId>.<name>` at step = epoch for every finite number not logged yet; answers how many points it added. */
  async write(epoch: number, metrics: Record<string, unknown>): Promise<number> {
    const points: MlflowMetric[] = [];
    for (const [name, value] of Object.entries(metrics)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      const key = `${this.stepId}.${name}`;
      let steps = this.logged.get(key);
      if (steps === undefined) {
        steps = new Set((await this.client.metricHistory(this.runId, key)).map((point) => Number(point.step)));
        this.logged.set(key, steps);
      }
      if (steps.has(epoch)) continue;
      points.push({ key, value, step: epoch, timestamp: this.startTime + epoch });
    }
    if (points.length > 0) await this.client.logBatch(this.runId, { metrics: points });
    for (const point of points) this.logged.get(point.key)?.add(epoch);
    return points.length;
  }
}

/** The run a step's epochs go to (the trial's nested run in a sweep) and its writer. */
export async function epochWriter(client: MlflowClient, tracking: StepTracking, stepId: string): Promise<EpochWriter> {
  const run = tracking.trial === undefined ? await client.getRun(tracking.runId) : await trialRun(client, tracking, stepId);
  return new EpochWriter(client, run.info.run_id, Number(run.info.start_time ?? 0), stepId);
}

/**
 * Per-epoch train metrics into MLflow as each epoch ends (after its checkpoint), idempotent across
 * activity retries (EpochWriter). After one failure the attempt stops logging, so a tracking
 * server that is down does not slow every epoch; the step's end fills in what is missing from
 * its history (tracking-activities.ts). Under `required: true` a failure fails the step instead.
 */
export function epochMetricsLogger({ client, tracking, stepId, log }: EpochMetricsOptions): EpochMetricsLogger {
  let writer: Promise<EpochWriter> | undefined;
  let broken = false;
  return async (epoch, metrics) => {
    if (broken) return;
    try {
      writer ??= epochWriter(client, tracking, stepId);
      await (await writer).write(epoch, metrics);
    } catch (error) {
      const problem = trackingProblem(error);
      if (tracking.required) throw requiredTrackingFailure(problem);
      broken = true;
      writer = undefined;
      log.warn('Epoch metrics not tracked in MLflow; training goes on', { stepId, epoch, error: problem });
    }
  };
}
