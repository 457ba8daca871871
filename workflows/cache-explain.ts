import { proxyActivities } from '@temporalio/workflow';
import type { CacheEntriesActivities } from '../activities/housekeeping/cache-entries.ts';
import type { ExplainCacheRequest, ExplainCacheResult } from '../common/cache-explain.ts';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/errors.ts';

const cacheEntries = proxyActivities<CacheEntriesActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
});

/**
 * `mlp cache explain` reads the step cache through this short workflow, like `mlp models`
 * (workflows/models.ts): the CLI holds no storage credentials.
 */
export async function explainCache(request: ExplainCacheRequest): Promise<ExplainCacheResult> {
  return cacheEntries.findCacheEntries(request);
}
