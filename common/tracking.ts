/**
 * Experiment tracking in MLflow (`tracking: { mlflow: … }` in a pipeline, docs/tracking.md): the
 * words the workflow and the worker's tracking activities share. Sandbox-safe: no I/O. The
 * server and its credentials are the worker's (MLFLOW_TRACKING_URI, …), never part of the
 * pipeline, its history or these types.
 */

/** The pipeline's `tracking.mlflow`. */
export interface MlflowTrackingSpec {
  /** Experiment the runs go to; created when missing. */
  experiment: string;
  /** `true`: a tracking server that cannot be reached fails the run instead of adding a warning. */
  required: boolean;
}

export interface TrackingSpec {
  mlflow: MlflowTrackingSpec;
}

/**
 * What a step activity gets (in its StepContext) to log into the run's MLflow run: ids only. A
 * trial of a sweep logs into a nested run of its own, found or created by the tag below.
 */
export interface StepTracking {
  experimentId: string;
  runId: string;
  required: boolean;
  trial?: { index: number; matrix: Record<string, string | number | boolean> };
}

/** Tags this project sets on MLflow runs (MLflow's own `mlflow.*` tags beside them). */
export const TRACKING_TAGS = {
  workflowId: 'mlp.workflowId',
  /** Temporal's run id: a later run under the same workflow id gets an MLflow run of its own. */
  temporalRunId: 'mlp.temporalRunId',
  pipeline: 'mlp.pipeline',
  codeVersion: 'mlp.codeVersion',
  specHash: 'mlp.specHash',
  temporalUrl: 'mlp.temporalUrl',
  /** On a trial's nested run: `<stepId>#<index>`. */
  trial: 'mlp.trial',
  /** On a registered model version: this project's registry version it mirrors. */
  registryVersion: 'mlp.registryVersion',
  /** Warnings a run's tracking met (e.g. a step whose artifacts could not be uploaded). */
  warning: 'mlp.warning',
} as const;

/** How a run ended, in MLflow's words. */
export type MlflowRunStatus = 'FINISHED' | 'FAILED' | 'KILLED';

/** Activity ids: never parsed as a step's (`@` is not allowed in step ids, `/` keeps them apart). */
export const TRACKING_ACTIVITY_IDS = {
  start: 'mlflow/start',
  step: (stepId: string) => `mlflow/step/${stepId}`,
  end: 'mlflow/end',
} as const;

/**
 * What a tracking activity id is about, as its warnings say it (`run start`, `step evaluate`,
 * `run end`), or undefined for any other activity: `mlp show` rebuilds warnings from a history.
 */
export function trackingActivitySubject(activityId: string): string | undefined {
  if (activityId === TRACKING_ACTIVITY_IDS.start) return 'run start';
  if (activityId === TRACKING_ACTIVITY_IDS.end) return 'run end';
  const step = TRACKING_ACTIVITY_IDS.step('');
  return activityId.startsWith(step) && activityId.length > step.length ? `step ${activityId.slice(step.length)}` : undefined;
}

/** What a tracking activity answers: a warning when the server could not be reached (the run goes on). */
export interface TrackingOutcome {
  warning?: string | undefined;
}

export interface TrackingStarted extends TrackingOutcome {
  /** Absent when the server could not be reached: the run then goes on untracked. */
  tracking?: StepTracking;
}

export interface TrackRunStartRequest {
  mlflow: MlflowTrackingSpec;
  pipeline: string;
  specHash: string;
  /** The run's resolved params, logged as MLflow params. */
  params: Record<string, unknown>;
  workflowId: string;
  /** Temporal's run id, for the link to the run in the Temporal UI. */
  temporalRunId: string;
}

export interface TrackStepEndRequest {
  tracking: StepTracking;
  stepId: string;
  uses: string;
  /** The step's outputs: small values and object keys (a sweep's include `trials`). */
  outputs: Record<string, unknown>;
}

export interface TrackRunEndRequest {
  tracking: StepTracking;
  status: MlflowRunStatus;
}

/**
 * Step kinds whose end has something to log (besides any sweep, whose trials' runs are closed):
 * train fills in epochs its activity could not log (a cache hit, a server down mid-training).
 */
export const TRACKED_STEP_KINDS: readonly string[] = ['train', 'evaluate', 'publish'];
