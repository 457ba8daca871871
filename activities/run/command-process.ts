import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { RunContractError } from '../../common/errors.ts';

/**
 * The user's command as a process group of its own (`detached`), so that stopping the step —
 * cancellation, timeout, worker shutdown — reaches every process it started, grandchildren
 * included: SIGTERM to the group, SIGKILL after the grace period. A watcher (`sh`, in its own
 * group) holds a pipe from the worker; when the worker dies, even by SIGKILL, the pipe closes
 * and the watcher stops the group the same way, so no step outlives its worker.
 */

export interface CommandExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CommandOptions {
  /** Program (a name looked up on env.PATH, or a path) and its arguments: never a shell string. */
  command: string;
  args: readonly string[];
  cwd: string;
  env: Readonly<Record<string, string>>;
  /** One line of stdout or stderr, as it comes (no trailing newline). */
  onLine: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Between SIGTERM and SIGKILL of the group, when stopped or when the worker dies. */
  graceMs: number;
}

export interface CommandProcess {
  pid: number;
  /** Resolves when the command exited and its output was read. */
  exited: Promise<CommandExit>;
  /** Stops the whole group: SIGTERM, then SIGKILL after the grace period; resolves when the command exited. */
  stop(): Promise<CommandExit>;
}

/** Signals the group, ignoring a group that is already gone. */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * `sh` waiting on the worker's pipe: a line `done` means the step ended by itself (exit quietly);
 * end of file means the worker is gone (stop the group: TERM, grace, KILL).
 */
const WATCHER_SCRIPT = 'read line; [ "$line" = done ] && exit 0; kill -TERM -- "-$1" 2>/dev/null; sleep "$2"; kill -KILL -- "-$1" 2>/dev/null; exit 0';

function startWatcher(pgid: number, graceMs: number): { release(): void } {
  const watcher = spawn('/bin/sh', ['-c', WATCHER_SCRIPT, 'mlp-run-watcher', String(pgid), String(Math.ceil(graceMs / 1000))], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watcher.on('error', () => undefined);
  watcher.stdin?.on('error', () => undefined);
  // Neither the watcher nor its pipe may keep the worker alive.
  watcher.unref();
  (watcher.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return {
    release() {
      watcher.stdin?.end('done\n');
    },
  };
}

/** Starts the command; rejects with RunContractError when the program does not exist. */
export async function startCommand(options: CommandOptions): Promise<CommandProcess> {
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: { ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'EACCES') {
        const why = error.code === 'ENOENT' ? 'not found' : 'not executable';
        reject(new RunContractError(`Command "${options.command}" ${why} (looked up on PATH=${options.env['PATH'] ?? ''} from the code folder)`, { cause: error }));
      } else reject(error);
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`Command "${options.command}" started without a process id`);
  const watcher = startWatcher(pid, options.graceMs);

  const streams = [
    ['stdout', child.stdout],
    ['stderr', child.stderr],
  ] as const;
  const drained = streams.map(([name, stream]) => {
    if (stream === null) return Promise.resolve();
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    lines.on('line', (line) => options.onLine(line, name));
    return new Promise<void>((resolve) => lines.once('close', resolve));
  });
  const exit = new Promise<CommandExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  let killTimer: NodeJS.Timeout | undefined;
  const exited = exit.then(async (result) => {
    // The leader is gone; anything it left in its group (a background grandchild) goes too.
    signalGroup(pid, 'SIGKILL');
    if (killTimer) clearTimeout(killTimer);
    watcher.release();
    await Promise.all(drained);
    return result;
  });
  exited.catch(() => undefined);

  return {
    pid,
    exited,
    stop() {
      if (child.exitCode === null && child.signalCode === null && killTimer === undefined) {
        signalGroup(pid, 'SIGTERM');
        killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL'), options.graceMs);
      }
      return exited;
    },
  };
}
