import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from './servers/binaries.ts';

const WORKER_ENTRY = fileURLToPath(new URL('../worker/main.ts', import.meta.url));

export interface WorkerProcessOptions {
  /** Worker environment (worker/config.ts); holds secrets, so it only goes to the child. */
  env: Record<string, string>;
  /** Append stdout and stderr to this file instead of inheriting the terminal. */
  logFile?: string;
}

/** The checkout's git commit (recorded in published models' lineage), when this is a git checkout. */
function gitCommit(): string | undefined {
  try {
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim() !== '';
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return undefined;
  }
}

/**
 * Starts a worker as a child process. The CLI never runs activities in its own process: a
 * worker is a separate program with its own configuration, exactly as in production.
 */
export function spawnWorkerProcess(options: WorkerProcessOptions): ChildProcess {
  const fd = options.logFile ? openSync(options.logFile, 'a') : undefined;
  try {
    return spawn(process.execPath, ['--import', 'tsx', WORKER_ENTRY], {
      cwd: PROJECT_ROOT,
      env: { MLP_CODE_VERSION: gitCommit() ?? 'unknown', ...process.env, ...options.env },
      stdio: fd === undefined ? 'inherit' : ['ignore', fd, fd],
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
