import type { z } from 'zod';
import type { QueueKind } from './task-queues.ts';

/**
 * A registered step kind: what `uses:` in a pipeline names. Input and output schemas are used by
 * the client to validate `with:` after resolution and to type-check `${{ steps.x.outputs.y }}`.
 */
export interface StepKind<Input extends z.ZodType = z.ZodType, Output extends z.ZodType = z.ZodType> {
  uses: string;
  /**
   * Name of the activity that runs this kind. Workers register the implementation under it and
   * the workflow calls it by it (common/step-activities.ts): renaming it breaks the replay of
   * saved histories, so it stays put once released.
   */
  activity: string;
  /** Implementation version: bump when the activity's behaviour changes, to invalidate caches. */
  version: string;
  description: string;
  /** Schema of `with:` (a `z.strictObject`: unknown keys are typos). */
  input: Input;
  /** Schema of the step's outputs (small: object keys, hashes, metrics; never data). */
  output: Output;
  /**
   * Output names that depend on the step's `with` (run: the names declared under `outputs`, plus
   * `metrics` and `artifacts`). References `steps.<id>.outputs.<name>` are checked against these
   * instead of the output schema's keys. `input` is the step's `with` as written.
   */
  outputNamesOf?: (input: Readonly<Record<string, unknown>>) => readonly string[];
  /**
   * Input fields holding object-store keys of artifacts. The cache key replaces each with the
   * artifact's content hash, so a changed file under the same name misses the cache.
   */
  artifactInputs: readonly string[];
  /**
   * Output fields naming artifacts (an object key, a list or a record of keys). A cache hit is
   * served only when each still exists with the sha256 recorded with the entry.
   */
  artifactOutputs?: readonly string[];
  /** Whether results differ by training engine (numerics of the backend): the engine is then part of the cache key. */
  resultsDependOnEngine?: boolean;
  /**
   * The interpreter a step with these (resolved) inputs runs its user's code with, if any: its
   * version (`python 3.12.3`) is then the cache key's `engine` part, as the training engine is
   * for train steps.
   */
  interpreter?: (input: Record<string, unknown>) => 'python' | undefined;
  defaultQueue: QueueKind;
  /**
   * Why a step with these (resolved) inputs cannot be cached, or `undefined` when it can. A
   * cache key must identify the content a step reads: an input that names a source whose bytes
   * can change under the same name (a URL without a pinned hash) cannot be keyed honestly.
   */
  uncacheableReason?: (input: Record<string, unknown>) => string | undefined;
  /**
   * Outputs that measure how a run went rather than what it produced (timings, work skipped
   * thanks to earlier runs, registry version numbers). `mlp reproduce` ignores them when it
   * checks that a re-run produced the same results.
   */
  volatileOutputs?: readonly string[];
  /**
   * Numeric metrics the kind reports by name inside one output record (train: `valAuc` in
   * `finalMetrics`): what a sweep's `select: { metric }` may name besides numeric outputs.
   * Empty `names`: the step's own code names them (run), so any name is accepted, and a trial
   * that did not report it has no metric.
   */
  metrics?: { output: string; names: readonly string[] };
}
