import type { NotificationProgress, PipelineProgress, RunState, StepProgress, TrialProgress } from './pipeline-progress.ts';
import type { StepOutputs } from './step-activities.ts';
import type { TrialMatrix } from './sweep.ts';

/**
 * The one state machine of a run's progress: a pure reducer over step events. The workflow
 * (workflows/run-progress.ts) folds the events it emits while it runs and answers the
 * `pipelineProgress` query with the result; the client (client/runs/run-history.ts) maps a closed
 * run's history onto the same events to rebuild it. A new state or field is added here once.
 * Timestamps arrive in the events (the workflow's deterministic clock, or the history's event
 * times): nothing here reads a clock. What only the server sees while an activity runs (its
 * attempt, its heartbeat details: bytes, epochs, a step's own progress or log lines) is not a
 * workflow event; client/runs/progress.ts merges it in beside this state.
 */

/** What a run's progress starts from: every step pending, in spec order. */
export interface RunStarted {
  pipeline: string;
  specHash: string;
  steps: readonly { id: string; uses: string; queue: string }[];
  /** ISO timestamp. */
  at: string;
}

/** How a trial ended. */
export type TrialEnd = 'succeeded' | 'cached' | 'failed' | 'cancelled';

/**
 * One thing that happened to a run. Events naming a step the run does not have, or a trial the
 * step has not started, change nothing. A source emits only what it can observe: the history,
 * for instance, sees a cache key as soon as it is computed (`cacheKeyComputed`), the workflow
 * reports it with the step's result.
 */
export type PipelineProgressEvent =
  /** The step's first activity (reuse check, cache key or its own) is about to be scheduled. */
  | { type: 'stepStarted'; stepId: string; at: string }
  /** `mlp rerun` meant to reuse the step's recorded outputs but cannot: the step runs. */
  | { type: 'reuseMiss'; stepId: string; reason: string }
  /** The step's (or a trial's) cache key. */
  | { type: 'cacheKeyComputed'; stepId: string; trial?: number; cacheKey: string }
  /** The cache has an entry but cannot serve it: the step (or trial) runs. */
  | { type: 'cacheMiss'; stepId: string; trial?: number; reason: string }
  /**
   * The step has its outputs: from its activity, a cache hit (`cached`) or an earlier run
   * (`reusedFrom`). `outputs` is absent only where a history's record of them cannot be read.
   */
  | { type: 'stepSucceeded'; stepId: string; at: string; cached: boolean; outputs?: StepOutputs; cacheKey?: string; reusedFrom?: string }
  | { type: 'stepFailed'; stepId: string; at: string; error?: string }
  /** `at` is absent for a step that never started, or whose end no event of its own records. */
  | { type: 'stepCancelled'; stepId: string; at?: string }
  /** A sweep's trials, all pending, before the first starts. */
  | { type: 'trialsPlanned'; stepId: string; trials: readonly { index: number; matrix: TrialMatrix }[] }
  /** A trial's first activity or child workflow is about to be scheduled (adds the trial if it was not planned). */
  | { type: 'trialStarted'; stepId: string; index: number; matrix: TrialMatrix; at: string }
  | { type: 'trialEnded'; stepId: string; index: number; state: TrialEnd; at?: string; cacheKey?: string; error?: string }
  /** The sweep's fan-in judged the trial: its select metric and whether it won. */
  | { type: 'trialRecorded'; stepId: string; index: number; selected?: boolean; metric?: number; error?: string }
  /** `failedStep` names the step whose failure ended the run. */
  | { type: 'runEnded'; state: Exclude<RunState, 'running'>; at: string; failedStep?: string }
  /**
   * The notification to `notify[index]` ended, after the run's end: it never changes the run's
   * state, only records whether the webhook got it.
   */
  | { type: 'notificationEnded'; index: number; sent: boolean; at?: string; error?: string }
  /** The run is tracked in MLflow (`tracking.mlflow`) as this experiment's run. */
  | { type: 'trackingStarted'; experimentId: string; runId: string }
  /** Tracking met a problem (e.g. the server was down); the run goes on, untracked where it failed. */
  | { type: 'trackingWarning'; message: string };

/** The progress of a run that has just started. */
export function startPipelineProgress({ pipeline, specHash, steps, at }: RunStarted): PipelineProgress {
  return {
    pipeline,
    specHash,
    state: 'running',
    startedAt: at,
    steps: steps.map(({ id, uses, queue }) => ({ id, uses, queue, state: 'pending', cached: false })),
  };
}

/** Copies only what is defined, so absent facts stay absent keys (the query's JSON, deep equality). */
function defined<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function changeStep(progress: PipelineProgress, stepId: string, change: (step: StepProgress) => StepProgress): PipelineProgress {
  const index = progress.steps.findIndex((step) => step.id === stepId);
  const step = progress.steps[index];
  if (step === undefined) return progress;
  const steps = [...progress.steps];
  steps[index] = change(step);
  return { ...progress, steps };
}

function changeTrial(progress: PipelineProgress, stepId: string, trialIndex: number, change: (trial: TrialProgress) => TrialProgress): PipelineProgress {
  return changeStep(progress, stepId, (step) => {
    const at = step.trials?.findIndex((trial) => trial.index === trialIndex) ?? -1;
    const trial = step.trials?.[at];
    if (step.trials === undefined || trial === undefined) return step;
    const trials = [...step.trials];
    trials[at] = change(trial);
    return { ...step, trials };
  });
}

/** The step's state once it has its outputs. */
function succeededState(event: { cached: boolean; reusedFrom?: string }): StepProgress['state'] {
  if (event.reusedFrom !== undefined) return 'reused';
  return event.cached ? 'cached' : 'succeeded';
}

/** The progress after `event`; `progress` itself is left as it was. */
export function reducePipelineProgress(progress: PipelineProgress, event: PipelineProgressEvent): PipelineProgress {
  switch (event.type) {
    case 'stepStarted':
      return changeStep(progress, event.stepId, (step) => ({ ...step, state: 'running', startedAt: event.at }));
    case 'reuseMiss':
      return changeStep(progress, event.stepId, (step) => ({ ...step, reuseMiss: event.reason }));
    case 'cacheKeyComputed':
      return event.trial === undefined
        ? changeStep(progress, event.stepId, (step) => ({ ...step, cacheKey: event.cacheKey }))
        : changeTrial(progress, event.stepId, event.trial, (trial) => ({ ...trial, cacheKey: event.cacheKey }));
    case 'cacheMiss':
      // A trial has no field of its own for it: the reason shows as its error until it ends.
      return event.trial === undefined
        ? changeStep(progress, event.stepId, (step) => ({ ...step, cacheMiss: event.reason }))
        : changeTrial(progress, event.stepId, event.trial, (trial) => ({ ...trial, error: event.reason }));
    case 'stepSucceeded':
      return changeStep(progress, event.stepId, (step) => ({
        ...step,
        state: succeededState(event),
        cached: event.cached,
        ...defined({ outputs: event.outputs }),
        endedAt: event.at,
        ...defined({ cacheKey: event.cacheKey, reusedFrom: event.reusedFrom }),
      }));
    case 'stepFailed':
      return changeStep(progress, event.stepId, (step) => ({ ...step, state: 'failed', endedAt: event.at, ...defined({ error: event.error }) }));
    case 'stepCancelled':
      return changeStep(progress, event.stepId, (step) => ({ ...step, state: 'cancelled', ...defined({ endedAt: event.at }) }));
    case 'trialsPlanned':
      return changeStep(progress, event.stepId, (step) => ({
        ...step,
        trials: event.trials.map(({ index, matrix }): TrialProgress => ({ index, matrix, state: 'pending' })),
      }));
    case 'trialStarted':
      return changeStep(progress, event.stepId, (step) => {
        const started = { state: 'running', startedAt: event.at } as const;
        if (step.trials?.some((trial) => trial.index === event.index) === true) {
          return { ...step, trials: step.trials.map((trial) => (trial.index === event.index ? { ...trial, ...started } : trial)) };
        }
        const trials = [...(step.trials ?? []), { index: event.index, matrix: event.matrix, ...started }];
        return { ...step, trials: trials.sort((a, b) => a.index - b.index) };
      });
    case 'trialEnded':
      return changeTrial(progress, event.stepId, event.index, (trial) => ({
        ...trial,
        state: event.state,
        ...defined({ endedAt: event.at, cacheKey: event.cacheKey, error: event.error }),
      }));
    case 'trialRecorded':
      return changeTrial(progress, event.stepId, event.index, (trial) => ({
        ...trial,
        ...defined({ selected: event.selected, metric: event.metric, error: event.error }),
      }));
    case 'runEnded':
      return { ...progress, state: event.state, ...defined({ failedStep: event.failedStep }), endedAt: event.at };
    case 'notificationEnded': {
      const notification: NotificationProgress = { index: event.index, state: event.sent ? 'sent' : 'failed', ...defined({ at: event.at, error: event.error }) };
      const others = (progress.notifications ?? []).filter((known) => known.index !== event.index);
      return { ...progress, notifications: [...others, notification].sort((a, b) => a.index - b.index) };
    }
    case 'trackingStarted':
      return { ...progress, tracking: { ...progress.tracking, experimentId: event.experimentId, runId: event.runId, warnings: progress.tracking?.warnings ?? [] } };
    case 'trackingWarning':
      return { ...progress, tracking: { ...progress.tracking, warnings: [...(progress.tracking?.warnings ?? []), event.message] } };
  }
}
