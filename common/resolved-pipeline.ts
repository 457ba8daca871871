import type { NotifyTarget } from './notifications.ts';
import type { ResolvedSweep } from './sweep.ts';
import type { QueueKind } from './task-queues.ts';
import type { TrackingSpec } from './tracking.ts';

/**
 * The contract between the client and the `runPipeline` workflow.
 *
 * The client parses and validates the YAML, substitutes `${{ params.* }}`, fills defaults, and
 * hands the workflow this plain object. The workflow never sees YAML or the schema, so a later
 * change to the schema cannot alter the replay of a run already started.
 */

/** Temporal retry policy in the pipeline's vocabulary (durations as strings like `30s`, `2m`). */
export interface RetrySpec {
  maximumAttempts: number;
  initialInterval: string;
  backoffCoefficient: number;
  maximumInterval?: string;
  nonRetryableErrorTypes?: string[];
}

export interface ResolvedStep {
  id: string;
  /** Registered step kind, e.g. `download`, `subset`, `train`, `evaluate`, `publish`, `noop`. */
  uses: string;
  /**
   * Inputs with params substituted and defaults applied. String values may still hold
   * `${{ steps.<id>.outputs.<name> }}` references; the workflow replaces them with upstream
   * outputs just before the step runs (the client has already type-checked them).
   */
  with: Record<string, unknown>;
  needs: string[];
  queue: QueueKind;
  retry: RetrySpec;
  /** Start-to-close timeout of one attempt, e.g. `2h`. */
  timeout: string;
  heartbeatTimeout?: string;
  cache: boolean;
  /** Why `cache` is off although the pipeline asked for it (e.g. a download without a pinned hash). */
  cacheOffReason?: string;
  /**
   * Present on a step with a `matrix`: the expanded trials (`with` may hold `${{ matrix.* }}`,
   * substituted per trial), how many run at once, and the rule that picks the outputs.
   */
  sweep?: ResolvedSweep;
  /** Present on a step with `foreach`: it runs once per element of a list an upstream step outputs. */
  foreach?: ResolvedForeach;
}

/** A `foreach` fan-out as the workflow runs it. */
export interface ResolvedForeach {
  /** `${{ steps.<id>.outputs.<name> }}`: the list, resolved when the step starts. */
  items: string;
  /** Items running at once (never more than the pipeline's `maxParallel`). */
  maxParallel: number;
  /** Items that must succeed for the step to succeed; absent: all of them. */
  minSuccess?: number;
}

export interface ResolvedPipeline {
  apiVersion: 'mlp/v1';
  name: string;
  description?: string;
  /** sha256 of the resolved spec: identifies exactly what ran (stored in the run's memo). */
  specHash: string;
  params: Record<string, unknown>;
  steps: ResolvedStep[];
  /**
   * Steps (activities or child workflows) the run schedules at once; absent: DEFAULT_MAX_PARALLEL
   * (common/scale-limits.ts). Absent rather than filled in, so the spec hash of a pipeline that
   * does not set it stays what it was.
   */
  maxParallel?: number;
  /** The pipeline's `notify:` targets; absent when it has none (runs started before it existed). */
  /** MLflow tracking (`tracking:` in the pipeline): experiment and whether it is required. */
  tracking?: TrackingSpec;
  notify?: NotifyTarget[];
}
