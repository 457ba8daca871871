import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/errors.ts';
import type { LocateObjectsRequest, LocateObjectsResult } from '../common/stored-objects.ts';

/**
 * `mlp artifacts`, `mlp report` and `mlp compare` as a short workflow, like `mlp models` and
 * `mlp gc`: the CLI holds no storage credentials. It returns sizes, recorded hashes and
 * presigned URLs, never object contents.
 */
const results = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
});

/** Describes (and, on request, presigns) the objects at each target. */
export async function locateObjects(request: LocateObjectsRequest): Promise<LocateObjectsResult> {
  return results.locateStoredObjects(request);
}
