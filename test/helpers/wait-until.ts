import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long: a test that waits for something that never happens fails, naming it. @default 30_000 */
  timeoutMs?: number;
  /** Pause between probes. @default 100 */
  intervalMs?: number;
}

/**
 * Probes until `probe` returns something other than undefined and returns it; throws
 * `Timed out after … waiting for <what>` at the deadline. For waiting on an event the test
 * cannot subscribe to (an object written, a state reached), never as a fixed sleep.
 */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, options: WaitOptions = {}): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 100 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
