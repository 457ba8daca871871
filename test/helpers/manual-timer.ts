import type { HeartbeatTimer } from '../../activities/steps/heartbeat-throttle.ts';

/** A clock and timer driven by `advance(ms)` instead of the wall clock: timing tests without sleeps. */
export function manualTimer(): {
  timer: HeartbeatTimer;
  now(): number;
  /** Moves the clock, running the timers that fall due. */
  advance(ms: number): void;
  /** Moves the clock without running any timer, as a busy event loop would. */
  block(ms: number): void;
} {
  let now = 0;
  const pending: { at: number; callback: () => void; cancelled: boolean }[] = [];
  return {
    now: () => now,
    timer(callback, ms) {
      const entry = { at: now + ms, callback, cancelled: false };
      pending.push(entry);
      return () => {
        entry.cancelled = true;
      };
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = pending.filter((entry) => !entry.cancelled && entry.at <= end).sort((a, b) => a.at - b.at)[0];
        if (due === undefined) break;
        pending.splice(pending.indexOf(due), 1);
        now = due.at;
        due.callback();
      }
      now = end;
    },
    block(ms) {
      now += ms;
    },
  };
}
