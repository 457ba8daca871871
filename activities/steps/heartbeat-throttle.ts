/** How often a step heartbeats at most: each heartbeat is a round trip to the server. */
export const HEARTBEAT_EVERY_MS = 1_000;

/** Runs `callback` after `ms` and returns what cancels it; tests pass a manual clock. */
export type HeartbeatTimer = (callback: () => void, ms: number) => () => void;

const realTimer: HeartbeatTimer = (callback, ms) => {
  const handle = setTimeout(callback, ms);
  return () => clearTimeout(handle);
};

export interface HeartbeatThrottleOptions {
  /**
   * Least time between two sends; a report inside it waits for its end, and the latest report
   * wins. 0 forwards every report (the SDK then throttles what goes to the server, on its own
   * thread). @default HEARTBEAT_EVERY_MS
   */
  everyMs?: number;
  /**
   * Resend the latest report this long after the last send while nothing new is reported, so
   * the heartbeat timeout catches a dead worker but not one busy with a long quiet phase
   * (loading data). @default never
   */
  repeatMs?: number;
  /** @default Node's setTimeout */
  timer?: HeartbeatTimer;
  /** @default Date.now */
  now?: () => number;
}

export interface HeartbeatThrottle<Details extends object = object> {
  /** Records the latest details; sends them now, or once `everyMs` has passed since the last send. */
  beat(details: Details): void;
  /** Sends nothing more (the step ended: its result supersedes its progress). */
  stop(): void;
}

/**
 * The one heartbeat throttle of the step activities: a report goes out at once when the last
 * send is `everyMs` old, else when that interval ends, so the latest report is never dropped;
 * with `repeatMs`, the latest is resent while nothing changes. Due reports are sent from `beat`
 * itself: a step that keeps the event loop busy (training on one thread) starves timers but
 * still heartbeats.
 */
export function heartbeatThrottle<Details extends object>(
  send: (details: Details) => void,
  options: HeartbeatThrottleOptions = {},
): HeartbeatThrottle<Details> {
  const everyMs = options.everyMs ?? HEARTBEAT_EVERY_MS;
  const { repeatMs } = options;
  const schedule = options.timer ?? realTimer;
  const now = options.now ?? Date.now;
  let latest: Details | undefined;
  let lastSentAt = -Infinity;
  let unsent = false;
  let stopped = false;
  // One pending timer at most, due at `timerAt`: the end of the interval for a waiting report, or a repeat.
  let cancelTimer: (() => void) | undefined;
  let timerAt = Infinity;

  const clearTimer = (): void => {
    cancelTimer?.();
    cancelTimer = undefined;
    timerAt = Infinity;
  };
  const wakeAt = (at: number): void => {
    if (cancelTimer !== undefined && timerAt <= at) return;
    clearTimer();
    timerAt = at;
    cancelTimer = schedule(tick, Math.max(0, at - now()));
  };
  const flush = (): void => {
    if (latest === undefined) return;
    send(latest);
    lastSentAt = now();
    unsent = false;
    clearTimer();
    if (repeatMs !== undefined) wakeAt(lastSentAt + repeatMs);
  };
  const sendWhenDue = (intervalMs: number): void => {
    const dueAt = lastSentAt + intervalMs;
    if (dueAt <= now()) flush();
    else wakeAt(dueAt);
  };
  function tick(): void {
    cancelTimer = undefined;
    timerAt = Infinity;
    if (stopped) return;
    if (unsent) sendWhenDue(everyMs);
    else if (repeatMs !== undefined) sendWhenDue(repeatMs);
  }

  return {
    beat(details) {
      if (stopped) return;
      latest = details;
      unsent = true;
      sendWhenDue(everyMs);
    },
    stop() {
      stopped = true;
      clearTimer();
    },
  };
}
