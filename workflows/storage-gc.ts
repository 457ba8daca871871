import { proxyActivities } from '@temporalio/workflow';
import type { StorageGcActivities } from '../activities/housekeeping/storage-gc.ts';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/errors.ts';
import type { PruneStorageRequest, StorageGcReport } from '../common/storage-gc.ts';
import { durationMs } from './duration.ts';

/**
 * `mlp gc` as a short workflow, like `mlp models` (workflows/models.ts): the CLI holds no storage
 * credentials, and each real collection is recorded in Temporal's history (what was removed,
 * when). A retried attempt plans again from what is left, so deleting twice is harmless.
 */
const housekeeping = proxyActivities<StorageGcActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
});

/** Reports, and with `apply` deletes, cache entries, shards and features no kept run refers to. */
export async function pruneStorage(request: PruneStorageRequest): Promise<StorageGcReport> {
  const { grace, ...rest } = request;
  return housekeeping.pruneStorageObjects({ ...rest, graceMs: durationMs(grace, 'grace') });
}
