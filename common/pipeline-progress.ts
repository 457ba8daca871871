import type { StepOutputs } from './step-activities.ts';

/**
 * What the `runPipeline` workflow reports about itself through the `pipelineProgress` query.
 * The workflow defines the query from this name and type (workflows/queries.ts); the client
 * calls `handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY)`.
 */

export const STEP_STATES = ['pending', 'running', 'succeeded', 'failed', 'cancelled', 'cached', 'reused'] as const;
export type StepState = (typeof STEP_STATES)[number];

export const RUN_STATES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];

/** One trial of a sweep step (a step with a `matrix`). */
export interface TrialProgress {
  index: number;
  /** The trial's matrix values. */
  matrix: Record<string, string | number | boolean>;
  state: StepState;
  startedAt?: string;
  endedAt?: string;
  /** The `select` metric the trial reported. */
  metric?: number;
  /** Won the `select` rule: the step's outputs are this trial's. */
  selected?: boolean;
  cacheKey?: string;
  error?: string;
}

export interface StepProgress {
  id: string;
  uses: string;
  queue: string;
  state: StepState;
  /** ISO timestamps (workflow time). */
  startedAt?: string;
  endedAt?: string;
  cached: boolean;
  cacheKey?: string;
  /** `reused`: the earlier run (`<workflowId>/<runId>`) whose recorded outputs `mlp rerun` took. */
  reusedFrom?: string;
  /** Why a step `mlp rerun` meant to reuse ran again (e.g. an artifact is gone). */
  reuseMiss?: string;
  /** Why a step ran although its cache key had an entry (an artifact of the entry is missing or changed). */
  cacheMiss?: string;
  outputs?: StepOutputs;
  error?: string;
  /** A sweep's trials, in index order. */
  trials?: TrialProgress[];
}

/** How the notification to `notify[index]` ended: the webhook answered 2xx, or every attempt failed. */
export interface NotificationProgress {
  index: number;
  state: 'sent' | 'failed';
  at?: string;
  /** Why it failed (never the URL: the worker leaves it out of every error). */
  error?: string;
}

export interface PipelineProgress {
  pipeline: string;
  specHash: string;
  state: RunState;
  startedAt: string;
  endedAt?: string;
  /** Step id of the first failure, when the run failed. */
  failedStep?: string;
  steps: StepProgress[];
  /** The run's notifications (`notify:`) that were due, once each has ended; absent when none was. */
  notifications?: NotificationProgress[];
  /** MLflow tracking (`tracking.mlflow`): the run's MLflow run and any warnings; absent when not tracked. */
  tracking?: TrackingProgress;
}

/** Where a run is tracked in MLflow, and what went wrong doing so (never the reason the run failed). */
export interface TrackingProgress {
  experimentId?: string;
  runId?: string;
  warnings: string[];
}

/**
 * Name of the query returning each step's state, times, cache flag and outputs. Attempt numbers
 * and heartbeat details are not visible to workflow code: `client/runs/progress.ts` merges them in
 * from the server.
 */
export const PIPELINE_PROGRESS_QUERY = 'pipelineProgress';
