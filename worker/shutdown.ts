import type { Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { launchedWithIpc } from './launcher-watch.ts';

/** Signals that ask a worker process to stop: what supervisors, terminals and `mlp worker` send. */
export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * Stops the workers gracefully on SIGTERM, SIGINT or SIGHUP, and when the launcher that spawned
 * this process with an IPC channel (`mlp worker`, `mlp demo`) goes away. The channel is a socket
 * the kernel closes when the launcher dies, even by SIGKILL, so a worker is never left behind
 * and no polling of `process.ppid` is needed. Graceful means: stop polling for new tasks, give
 * running activities `graceMs` to finish, then cancel them. A second signal exits at once.
 * The SDK's own signal handling must be off (`Runtime.install({ shutdownSignals: [] })`).
 *
 * A `run` step's command is a process group of its own: the cancellation at the end of the grace
 * period stops it (SIGTERM, then SIGKILL after its gracePeriodSeconds), and should this process
 * exit or die first, a watcher holding a pipe to it stops the group all the same
 * (activities/run/command-process.ts).
 */
export function stopOnShutdownRequest(workers: readonly Worker[], logger: Logger, graceMs: number): void {
  let requested = false;
  const stop = (reason: string): void => {
    if (requested) return;
    requested = true;
    const running = workers.reduce((sum, worker) => sum + worker.getStatus().numInFlightActivities, 0);
    logger.info(
      { reason, runningActivities: running, graceSeconds: graceMs / 1000 },
      'Shutting down: polling stopped; running activities may finish within the grace period, then are cancelled',
    );
    for (const worker of workers) {
      if (worker.getState() === 'RUNNING') worker.shutdown();
    }
  };
  for (const signal of SHUTDOWN_SIGNALS) {
    process.on(signal, () => {
      if (!requested) return stop(signal);
      logger.warn({ signal }, 'Second shutdown signal: exiting without waiting for running activities');
      process.exit(128 + (signal === 'SIGHUP' ? 1 : signal === 'SIGINT' ? 2 : 15));
    });
  }
  if (process.channel) {
    // The channel only watches the launcher; it must not keep this process alive by itself.
    process.channel.unref();
    process.once('disconnect', () => stop('launcher exited'));
  } else if (launchedWithIpc()) {
    // The launcher left between the starting phase's watch and here.
    stop('launcher exited');
  }
}
