import { z } from 'zod';
import { CacheKeyPartsSchema } from './cache-key.ts';

/**
 * `mlp cache explain`: the cache entries the `explainCache` workflow (workflows/cache-explain.ts)
 * reports for a run's steps, so the client can say which part of a key changed since the entry a
 * step would have hit. Sandbox-safe: schemas and types only.
 */


/** One recorded entry, without its outputs. */
export const CacheEntrySummarySchema = z.object({
  key: z.string(),
  workflowId: z.string(),
  stepId: z.string(),
  uses: z.string(),
  recordedAt: z.string(),
  /** Absent on entries recorded before keys had parts. */
  parts: CacheKeyPartsSchema.optional(),
});
export type CacheEntrySummary = z.infer<typeof CacheEntrySummarySchema>;

export interface ExplainCacheRequest {
  /** The steps to find entries for: same step id and kind. */
  steps: { stepId: string; uses: string }[];
}

/** Entries by step id, newest first, at most `CACHE_ENTRIES_PER_STEP` each. */
export const ExplainCacheResultSchema = z.record(z.string(), z.array(CacheEntrySummarySchema));
export type ExplainCacheResult = z.infer<typeof ExplainCacheResultSchema>;

export const CACHE_ENTRIES_PER_STEP = 20;

/** Name of the workflow behind `mlp cache explain`. */
export const EXPLAIN_CACHE_WORKFLOW = 'explainCache';
