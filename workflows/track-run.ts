import { ApplicationFailure, CancellationScope, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { TrackingActivities } from '../activities/tracking/tracking-activities.ts';
import type { PipelineProgressEvent } from '../common/pipeline-progress-reducer.ts';
import type { ResolvedPipeline, ResolvedStep } from '../common/resolved-pipeline.ts';
import type { StepOutputs } from '../common/step-activities.ts';
import { taskQueueName } from '../common/task-queues.ts';
import { trackingActivitySubject, TRACKED_STEP_KINDS, TRACKING_ACTIVITY_IDS, type MlflowRunStatus, type StepTracking, type TrackingOutcome } from '../common/tracking.ts';
import { errorMessage } from './failures.ts';

/**
 * The workflow's side of `tracking.mlflow` (docs/tracking.md): a few activities on the cpu queue,
 * where the worker holds the server's address and credentials. One at the start (the MLflow run,
 * its tags and params), one when a step with something to log ends (train, evaluate, publish, a sweep)
 * and one at the end (the status); per-epoch metrics go from the train activity itself. A run
 * without `tracking` issues no command here at all, so recorded histories replay unchanged.
 *
 * Tracking never decides how a run ends: a server that cannot be reached is retried briefly by
 * the activity, which then answers a warning, recorded as a `trackingWarning` progress event.
 * With `required: true` the activity fails instead and so does the run, naming the server.
 */

/** Worker crashes only: the activities retry their requests themselves and answer warnings. */
const TRACKING_RETRY = { maximumAttempts: 3, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s' };

export interface RunTracker {
  /** What step activities get in their context (undefined: the run is not tracked). */
  stepContext(trial?: NonNullable<StepTracking['trial']>): { tracking?: StepTracking };
  /** A step succeeded: logs what it has to log in the background (the DAG does not wait). */
  stepEnded(step: ResolvedStep, outputs: StepOutputs): void;
  /** The run ends: waits for the step logging, then sets the MLflow run's status. */
  runEnded(status: MlflowRunStatus): Promise<void>;
}

const UNTRACKED: RunTracker = { stepContext: () => ({}), stepEnded: () => {}, runEnded: async () => {} };

/** Thrown into the run under `required: true`: the activity's message names the tracking server. */
function requiredFailure(error: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: 'TrackingRequiredError', nonRetryable: true, message: errorMessage(error) });
}

/**
 * Starts tracking a run (one activity) when the pipeline has `tracking`; otherwise a tracker
 * that does nothing and issues no command.
 */
export async function startRunTracking(
  spec: ResolvedPipeline,
  taskQueuePrefix: string,
  record: (event: PipelineProgressEvent) => void,
): Promise<RunTracker> {
  const mlflow = spec.tracking?.mlflow;
  if (mlflow === undefined) return UNTRACKED;
  const activities = (activityId: string) =>
    proxyActivities<TrackingActivities>({
      activityId,
      summary: activityId,
      taskQueue: taskQueueName('cpu', taskQueuePrefix),
      // Per request 5 s, 3 attempts: a few requests per activity stay well under this.
      startToCloseTimeout: '2 minutes',
      retry: TRACKING_RETRY,
    });
  const warn = (outcome: TrackingOutcome, what: string): void => {
    if (outcome.warning === undefined) return;
    log.warn('MLflow tracking warning', { what, warning: outcome.warning });
    record({ type: 'trackingWarning', message: `${what}: ${outcome.warning}` });
  };
  const { workflowId, runId } = workflowInfo();
  let started;
  try {
    started = await activities(TRACKING_ACTIVITY_IDS.start).trackRunStart({
      mlflow,
      pipeline: spec.name,
      specHash: spec.specHash,
      params: spec.params,
      workflowId,
      temporalRunId: runId,
    });
  } catch (error) {
    if (mlflow.required) throw requiredFailure(error);
    started = { warning: errorMessage(error) };
  }
  warn(started, 'run start');
  const tracking = started.tracking;
  if (tracking === undefined) return UNTRACKED;
  record({ type: 'trackingStarted', experimentId: tracking.experimentId, runId: tracking.runId });

  const pending: Promise<void>[] = [];
  let requiredError: unknown;
  const guarded = async (what: string, call: () => Promise<TrackingOutcome>): Promise<void> => {
    try {
      warn(await call(), what);
    } catch (error) {
      if (mlflow.required) requiredError ??= error;
      else warn({ warning: errorMessage(error) }, what);
    }
  };
  return {
    stepContext: (trial) => ({ tracking: trial === undefined ? tracking : { ...tracking, trial } }),
    stepEnded(step, outputs) {
      if (!TRACKED_STEP_KINDS.includes(step.uses) && step.sweep === undefined) return;
      pending.push(guarded(trackingActivitySubject(TRACKING_ACTIVITY_IDS.step(step.id)) ?? step.id, () => activities(TRACKING_ACTIVITY_IDS.step(step.id)).trackStepEnd({ tracking, stepId: step.id, uses: step.uses, outputs })));
    },
    async runEnded(status) {
      // Not cancellable: a cancelled or failed run still closes its MLflow run.
      await CancellationScope.nonCancellable(async () => {
        await Promise.all(pending);
        await guarded('run end', () => activities(TRACKING_ACTIVITY_IDS.end).trackRunEnd({ tracking, status }));
      });
      if (requiredError !== undefined && status === 'FINISHED') throw requiredFailure(requiredError);
    },
  };
}
