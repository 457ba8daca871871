/**
 * How large one pipeline run may get, and what it costs the Temporal server: the server's
 * per-workflow limits (documented defaults of Temporal Server, the dev server included), the
 * bounds this project sets below them, and the history cost of its own work, measured on real
 * runs (test/integration/scale.test.ts checks the estimate against a run's history; `npm run
 * bench:scale` prints the figures). Sandbox-safe: the workflow and `mlp validate` share it.
 */

/** Temporal Server's per-workflow limits (defaults); past them the server fails the workflow task or the run. */
export const TEMPORAL_LIMITS = {
  /** `limit.numPendingActivities.error`: more pending activities fail every workflow task. */
  pendingActivities: 2_000,
  /** `limit.numPendingChildExecutions.error`. */
  pendingChildWorkflows: 2_000,
  /** `limit.historyCount.error`: the run is terminated past it. */
  historyEvents: 51_200,
  /** `limit.historyCount.warn`. */
  historyEventsWarning: 10_240,
  /** `limit.historySize.error`. */
  historyBytes: 50 * 1024 * 1024,
  /** `limit.historySize.warn`. */
  historyBytesWarning: 10 * 1024 * 1024,
  /** `limit.blobSize.error`: one payload (the run's input: the resolved pipeline) may not exceed it. */
  payloadBytes: 2 * 1024 * 1024,
} as const;

/** Steps (activities or child workflows) one run schedules at once when the pipeline sets no `maxParallel`. */
export const DEFAULT_MAX_PARALLEL = 100;

/**
 * Most a pipeline's `maxParallel` may be: half the server's pending activity / child workflow
 * limit, so that no workflow task of a run can ever be refused for too many pending commands.
 */
export const MAX_PARALLEL_CEILING = 1_000;

/** Most items a `foreach` list may hold at run time; a longer list fails the step with a clear error. */
export const MAX_FOREACH_ITEMS = 10_000;

/**
 * Steps with the same `needs` (they always become ready together) run inline while there are
 * at most this many; more run as `runStepGroup` child workflows of STEP_GROUP_SIZE steps each,
 * so the run's own history holds a few events per group instead of several per step.
 */
export const STEP_GROUP_THRESHOLD = 100;

/** Steps (or `foreach` items) one `runStepGroup` child workflow runs. */
export const STEP_GROUP_SIZE = 200;

/** `foreach` lists longer than this run their items in `runStepGroup` children (as sweeps past 8 trials). */
export const FOREACH_CHILD_THRESHOLD = 8;

/**
 * Children of one workflow that run at once share its `maxParallel` this many ways (each runs
 * `maxParallel / 4` items at once), so one child starting or ending never leaves the bound idle.
 */
export const CONCURRENT_GROUPS = 4;

/**
 * History events one activity costs its workflow at most: scheduled, started, completed, and the
 * workflow task (scheduled, started, completed) that handles its result when no other result
 * shares it. Measured: a chain of noop steps costs 6 per step (test/integration/scale.test.ts).
 */
export const HISTORY_EVENTS_PER_ACTIVITY = 6;

/** The same for a child workflow: initiated, started (a workflow task of its own), completed and a workflow task. */
export const HISTORY_EVENTS_PER_CHILD = 9;

/** Events of every run whatever its steps: start, memo and search attributes, first and last workflow task, completion. */
export const HISTORY_EVENTS_PER_RUN = 16;

/**
 * Bytes of history one activity costs besides its inputs and outputs (activity type, ids, task
 * queue, timeouts, retry policy, headers, the workflow task around it). Measured on noop steps:
 * about 1.5 kB (`npm run bench:scale`); rounded up.
 */
export const HISTORY_BYTES_PER_ACTIVITY = 2_048;

/** The same for one child workflow (its input and result counted apart). */
export const HISTORY_BYTES_PER_CHILD = 2_048;
