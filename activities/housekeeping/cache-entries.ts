import pLimit from 'p-limit';
import { ArtifactNotFoundError } from '../../common/errors.ts';
import { CACHE_ENTRIES_PER_STEP, CacheEntrySummarySchema, type CacheEntrySummary, type ExplainCacheRequest, type ExplainCacheResult } from '../../common/cache-explain.ts';
import type { ActivityDeps } from '../deps.ts';
import type { ObjectStore } from '../object-store.ts';

/**
 * Reads the step cache's entries for `mlp cache explain`: every `cache/<key>.json` is read once
 * and summarized (key, run, step, kind, time, key parts), and the entries of each requested
 * step (same id and kind) are returned newest first. Unreadable entries are skipped: the cache
 * treats them as misses too.
 */
export async function findCacheEntries(store: ObjectStore, request: ExplainCacheRequest): Promise<ExplainCacheResult> {
  const wanted = new Set(request.steps.map((step) => `${step.stepId}\u0000${step.uses}`));
  const limit = pLimit(16);
  const summaries = await Promise.all(
    (await store.list('cache/')).map((key) =>
      limit(async (): Promise<CacheEntrySummary | undefined> => {
        let stored: unknown;
        try {
          stored = await store.getJson(key);
        } catch (error) {
          if (error instanceof ArtifactNotFoundError || error instanceof SyntaxError) return undefined;
          throw error;
        }
        const parsed = CacheEntrySummarySchema.safeParse(stored);
        return parsed.success && wanted.has(`${parsed.data.stepId}\u0000${parsed.data.uses}`) ? parsed.data : undefined;
      }),
    ),
  );
  const result: ExplainCacheResult = Object.fromEntries(request.steps.map((step) => [step.stepId, []]));
  const newestFirst = summaries.filter((entry) => entry !== undefined).sort((a, b) => b.recordedAt.localeCompare(a.recordedAt));
  for (const entry of newestFirst) {
    const list = result[entry.stepId];
    if (list !== undefined && list.length < CACHE_ENTRIES_PER_STEP) list.push(entry);
  }
  return result;
}

export function createCacheEntriesActivities({ store }: ActivityDeps) {
  return {
    /** `mlp cache explain`: the recorded cache entries of the given steps, newest first. */
    async findCacheEntries(request: ExplainCacheRequest): Promise<ExplainCacheResult> {
      return findCacheEntries(store, request);
    },
  };
}

export type CacheEntriesActivities = ReturnType<typeof createCacheEntriesActivities>;
