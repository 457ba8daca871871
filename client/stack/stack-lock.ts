import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { ServerStartError } from '../../common/index.ts';

/** A second `up` or `down` waits this long for the first: a cold start can take 90 s. */
const WAIT_MS = 150_000;
const POLL_MS = 500;

/**
 * Runs `run` while holding the stack's lock (`<home>/stack.lock`), so two `mlp stack up` (or an
 * `up` and a `down`) never race: without it both would see no servers, both would start them,
 * and one set would be orphaned. The holder refreshes the lock every 5 s; a lock left by a
 * killed command counts as stale after 15 s and is taken over.
 */
export async function withStackLock<T>(home: string, onWait: (message: string) => void, run: () => Promise<T>): Promise<T> {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const lockfilePath = join(home, 'stack.lock');
  const options = { realpath: false, lockfilePath, stale: 15_000, update: 5_000 };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(home, { ...options, retries: 0 });
  } catch (error) {
    if (!isLocked(error)) throw error;
    onWait(`another mlp stack command holds ${lockfilePath}; waiting for it to finish`);
    try {
      release = await lockfile.lock(home, { ...options, retries: { retries: WAIT_MS / POLL_MS, factor: 1, minTimeout: POLL_MS, maxTimeout: POLL_MS } });
    } catch (waited) {
      if (!isLocked(waited)) throw waited;
      throw new ServerStartError(`Cannot change the stack: another mlp stack command has held ${lockfilePath} for over ${WAIT_MS / 1000} s`);
    }
  }
  try {
    return await run();
  } finally {
    await release();
  }
}

function isLocked(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ELOCKED';
}
