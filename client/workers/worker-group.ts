import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { spawnWorkerProcess, type WorkerProcessOptions } from './worker-process.ts';

/** Signals a launcher passes on to its workers (terminal Ctrl-C, supervisors, closed terminal). */
export const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * How `mlp worker` lays out its processes. `split` (default): one process for workflow tasks and
 * queries, one for activities, so a training batch that holds the activity process's JS thread
 * never delays a workflow task or a progress query (`npm run bench:event-loop`). `single`: both
 * in one process, as before (kept to measure the difference).
 */
export type WorkerLayout = 'split' | 'single';

export interface WorkerGroupOptions extends Omit<WorkerProcessOptions, 'role'> {
  /** @default 'split' */
  layout?: WorkerLayout;
}

/** The worker processes a launcher started; they live and stop together. */
export interface WorkerGroup {
  readonly processes: readonly ChildProcess[];
  /**
   * Settles when every process has exited, with 0 if all exited cleanly, else the code of the
   * first to exit non-zero, the one that brought the group down (128 + signal number for a
   * process killed by a signal).
   */
  readonly exited: Promise<number>;
  /** Sends `signal` to every process still running (SIGTERM = graceful shutdown). */
  kill(signal?: NodeJS.Signals): void;
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? constants.signals[signal] : 0);
}

/**
 * Starts the worker processes of one `mlp worker`. When one of them exits (crash or shutdown),
 * the others get SIGTERM, so the group never runs half a worker: workflows without anyone to
 * run their activities, or the reverse.
 */
export function startWorkerGroup(options: WorkerGroupOptions): WorkerGroup {
  const { layout = 'split', ...processOptions } = options;
  const roles = layout === 'split' ? (['workflows', 'activities'] as const) : (['all'] as const);
  const processes = roles.map((role) => spawnWorkerProcess({ ...processOptions, role }));
  const running = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;
  const kill = (signal: NodeJS.Signals = 'SIGTERM'): void => {
    for (const child of processes) if (running(child)) child.kill(signal);
  };
  // A worker counts a second shutdown signal as "exit now": send at most one on our own.
  let stopping = false;
  const stopOthers = (): void => {
    if (stopping) return;
    stopping = true;
    kill('SIGTERM');
  };
  const codesInExitOrder: number[] = [];
  const exits = processes.map(
    (child) =>
      new Promise<void>((resolve) => {
        child.once('exit', (code, signal) => {
          codesInExitOrder.push(exitCode(code, signal));
          stopOthers();
          resolve();
        });
      }),
  );
  const exited = Promise.all(exits).then(() => codesInExitOrder.find((code) => code !== 0) ?? 0);
  return {
    processes,
    exited,
    kill: (signal = 'SIGTERM') => {
      stopping = true;
      kill(signal);
    },
  };
}

/**
 * Makes this process a thin launcher: SIGTERM, SIGINT and SIGHUP are passed on to the workers
 * (graceful shutdown there) instead of killing the launcher first; the launcher then exits with
 * the workers' code. If the launcher is killed outright (SIGKILL), the workers notice their IPC
 * channel closing and stop on their own (worker/shutdown.ts).
 */
export async function runWorkerGroupInForeground(group: WorkerGroup): Promise<number> {
  const forward = (signal: NodeJS.Signals): void => group.kill(signal);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  try {
    return await group.exited;
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
  }
}
