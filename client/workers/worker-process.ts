import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { LAUNCHED_WITH_IPC_ENV } from '../../common/worker-launcher.ts';
import { codeVersion } from '../code-version.ts';
import { PROJECT_ROOT } from '../servers/binaries.ts';

const WORKER_ENTRY = fileURLToPath(new URL('../../worker/main.ts', import.meta.url));

export interface WorkerProcessOptions {
  /** Worker environment (worker/config.ts); holds secrets, so it only goes to the child. */
  env: Record<string, string>;
  /** Append stdout and stderr to this file instead of inheriting the terminal. */
  logFile?: string;
  /** What the process runs (MLP_WORKER_ROLE in worker/config.ts). @default 'all' */
  role?: 'all' | 'workflows' | 'activities';
  /** The worker's entry module. @default worker/main.ts (the versioning test starts a second build from a fixture) */
  entry?: string;
}

/**
 * libuv threads for the worker: sharp, file reads and hashing run there. Node's default is 4
 * whatever the machine. One per core plus one, so a file read does not wait behind a full set
 * of image decodes: on 2 cores (`npm run bench:data`, median of 3), 224-px data steps went from
 * ~300 img/s with 4 threads to ~360 with 3 and ~350 with 2, and the full-size sample stayed at
 * ~75 with 3 but fell to ~59 with 2. It must be set before the process starts: libuv creates the
 * pool while Node is still loading modules.
 */
export function workerThreadpoolSize(env: NodeJS.ProcessEnv = process.env): string {
  return env['UV_THREADPOOL_SIZE'] ?? String(availableParallelism() + 1);
}

/**
 * Starts a worker as a child process: node itself with tsx's loader, so the pid is the worker's
 * (no tsx launcher in between to swallow signals). The CLI never runs activities in its own
 * process: a worker is a separate program with its own configuration, exactly as in production.
 *
 * The child gets an IPC channel and its own process group: it stops gracefully when this
 * process dies, however it dies (worker/shutdown.ts), and a terminal's Ctrl-C reaches it only
 * through the launcher (`forwardShutdownSignals`), so it sees exactly one signal.
 */
export function spawnWorkerProcess(options: WorkerProcessOptions): ChildProcess {
  const fd = options.logFile ? openSync(options.logFile, 'a') : undefined;
  try {
    return spawn(process.execPath, ['--import', 'tsx', options.entry ?? WORKER_ENTRY], {
      cwd: PROJECT_ROOT,
      env: {
        MLP_CODE_VERSION: codeVersion(),
        UV_THREADPOOL_SIZE: workerThreadpoolSize(),
        ...process.env,
        ...options.env,
        ...(options.role ? { MLP_WORKER_ROLE: options.role } : {}),
        [LAUNCHED_WITH_IPC_ENV]: '1',
      },
      stdio: fd === undefined ? ['inherit', 'inherit', 'inherit', 'ipc'] : ['ignore', fd, fd, 'ipc'],
      detached: true,
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
