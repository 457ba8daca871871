import { z } from 'zod';

/**
 * `mlp gc`: what the client asks the `pruneStorage` workflow (workflows/storage-gc.ts) and what it
 * reports back. The client knows the runs (Temporal); the worker knows the objects (S3).
 */

/** A run whose artifacts stay: one of the last N runs, or one still running. */
export interface KeptRun {
  workflowId: string;
  /** Cache keys its steps computed: a hit keeps the entry another run wrote. */
  cacheKeys: string[];
  /** Every string among its steps' outputs; object keys among them (split manifests) are followed. */
  outputStrings: string[];
}

/** What `mlp gc` sends the `pruneStorage` workflow. */
export interface PruneStorageRequest {
  keptRuns: KeptRun[];
  /** Delete (true) or only report what would be deleted (false). */
  apply: boolean;
  /**
   * Objects younger than this duration (`1h`, `30m`) are never deleted: a step still running may
   * have written them before any run recorded a reference to them.
   */
  grace: string;
}

/** The same, as the activity takes it (the workflow converts the duration). */
export interface StorageGcRequest extends Omit<PruneStorageRequest, 'grace'> {
  graceMs: number;
}

/** The kinds of objects `mlp gc` may delete, in the order it deletes them (references first). */
export const GC_CLASSES = ['cacheEntries', 'shards', 'features'] as const;
export type GcClass = (typeof GC_CLASSES)[number];

/** How many keys per class a report lists; counts and bytes always cover all of them. */
export const GC_LISTED_KEYS = 100;

const gcClassReportSchema = z.object({
  count: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  /** The first `GC_LISTED_KEYS` keys (sorted). */
  keys: z.array(z.string()),
  /** Objects of this class that stay. */
  kept: z.number().int().nonnegative(),
});
export type GcClassReport = z.infer<typeof gcClassReportSchema>;

export const StorageGcReportSchema = z.object({
  applied: z.boolean(),
  /** Runs whose references were kept: the client's runs plus the registry's lineage runs. */
  keptRuns: z.array(z.string()),
  /** Runs that published a registered model version (from the versions' lineage). */
  registryRuns: z.array(z.string()),
  removed: z.object({ cacheEntries: gcClassReportSchema, shards: gcClassReportSchema, features: gcClassReportSchema }),
  totalBytes: z.number().nonnegative(),
});
export type StorageGcReport = z.infer<typeof StorageGcReportSchema>;

/** Every string inside a JSON value (object keys of artifacts are strings among a step's outputs). */
export function stringsIn(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (typeof value === 'string') into.add(value);
  else if (Array.isArray(value)) for (const item of value) stringsIn(item, into);
  else if (typeof value === 'object' && value !== null) for (const item of Object.values(value)) stringsIn(item, into);
  return into;
}

/** Name of the workflow behind `mlp gc`. */
export const STORAGE_GC_WORKFLOW = 'pruneStorage';
