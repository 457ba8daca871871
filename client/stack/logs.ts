import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { logTail } from '../servers/launch.ts';

/** `stack logs`: the last lines of a server log, optionally followed like `tail -f`. */

export { logTail };

/**
 * Calls `write` with each chunk appended to `file` until `signal` aborts. Starts at the
 * current end; restarts from 0 when the file shrinks (a new `stack up` truncating is not
 * expected, but a user deleting the log is).
 */
export async function followLog(file: string, write: (text: string) => void, signal: AbortSignal, intervalMs = 500): Promise<void> {
  let position = sizeOf(file);
  while (!signal.aborted) {
    const size = sizeOf(file);
    if (size < position) position = 0;
    if (size > position) {
      const fd = openSync(file, 'r');
      try {
        const buffer = Buffer.alloc(size - position);
        const read = readSync(fd, buffer, 0, buffer.length, position);
        position += read;
        write(buffer.subarray(0, read).toString('utf8'));
      } finally {
        closeSync(fd);
      }
    }
    await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
