import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { StorageCheckResult } from '../activities/storage-check.ts';

const { writeAndReadBack } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

/** Storage health check (test/integration/storage-roundtrip.test.ts): a worker writes an object and reads it back. */
export async function checkStorage(prefix: string, payload: string): Promise<StorageCheckResult> {
  return writeAndReadBack(prefix, payload);
}
