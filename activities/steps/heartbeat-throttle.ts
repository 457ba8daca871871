/** How often a step heartbeats at most: each heartbeat is a round trip to the server. */
export const HEARTBEAT_EVERY_MS = 1_000;

/** Runs `callback` after `ms` and returns what cancels it; tests pass a manual clock. */
export type HeartbeatTimer = (callback: () => void, ms: number) => () => void;

const realTimer: HeartbeatTimer = (callback, ms) => {
  const handle = setTimeout(callback, ms);
  return () => clearTimeout(handle);
};

export interface HeartbeatThrottleOptions {
  /** @default HEARTBEAT_EVERY_MS */
  everyMs?: number;
  /**
   * Send the latest details again every `everyMs` while nothing new is reported, so the
   * heartbeat timeout catches a dead worker but not one busy with a long quiet phase (loading
   * data, extracting features). @default false
   */
  repeat?: boolean;
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
 * send is `everyMs` old, else when that interval ends, so the latest report is never dropped.
 * With `repeat`, the latest is also resent every `everyMs` while nothing changes. Reports are
 * sent from `beat` itself whenever they are due: a step that keeps the event loop busy (training
 * on one thread) still heartbeats, with no timer needing to run.
 */
export function heartbeatThrottle<Details extends object>(
  send: (details: Details) => void,
  options: HeartbeatThrottleOptions = {},
): HeartbeatThrottle<Details> {
  const everyMs = options.everyMs ?? HEARTBEAT_EVERY_MS;
  const schedule = options.timer ?? realTimer;
  const now = options.now ?? Date.now;
  let latest: Details | undefined;
  let lastSentAt = -Infinity;
  let unsent = false;
  let stopped = false;
  // Set while a send is scheduled: the rest of the interval for a waiting report, or a repeat.
  let cancelTimer: (() => void) | undefined;

  const flush = (): void => {
    if (latest === undefined) return;
    send(latest);
    lastSentAt = now();
    unsent = false;
    cancelTimer?.();
    cancelTimer = options.repeat === true ? schedule(tick, everyMs) : undefined;
  };
  const tick = (): void => {
    cancelTimer = undefined;
    if (!stopped && (unsent || options.repeat === true)) flush();
  };

  return {
    beat(details) {
      if (stopped) return;
      latest = details;
      unsent = true;
      const wait = lastSentAt + everyMs - now();
      if (wait <= 0) flush();
      else cancelTimer ??= schedule(tick, wait);
    },
    stop() {
      stopped = true;
      cancelTimer?.();
      cancelTimer = undefined;
    },
  };
}
