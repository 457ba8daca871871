import { createHash, randomUUID } from 'node:crypto';
import type { ActivityDeps } from './deps.ts';

/** Result of writing a probe object and reading it back. */
export interface StorageCheckResult {
  key: string;
  bytes: number;
  writtenSha256: string;
  readSha256: string;
}

/**
 * Diagnostic activities: prove that a worker can reach the object store with its credentials.
 * The `checkStorage` workflow runs them (test/integration/storage-roundtrip.test.ts).
 */
export function createStorageCheckActivities({ store }: ActivityDeps) {
  return {
    /** Writes `payload` under `checks/<prefix>/…`, reads it back and returns both hashes. */
    async writeAndReadBack(prefix: string, payload: string): Promise<StorageCheckResult> {
      await store.ensureBucket();
      const key = `checks/${prefix}/${randomUUID()}.txt`;
      const body = Buffer.from(payload, 'utf8');
      await store.put(key, body, 'text/plain');
      const read = await store.get(key);
      return {
        key,
        bytes: read.length,
        writtenSha256: createHash('sha256').update(body).digest('hex'),
        readSha256: createHash('sha256').update(read).digest('hex'),
      };
    },
  };
}
