import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { isAlive } from '../servers/launch.ts';

/**
 * The stack's pid file (`state.json`): which processes `stack up` started, with their exact
 * command lines, and the ports they were given. `down` and `status` trust a pid only when the
 * live process still has that command line, so a reused pid is never killed.
 */

const processSchema = z.strictObject({
  pid: z.number().int().positive(),
  argv: z.array(z.string()).min(1),
  startedAt: z.string(),
  binaryVersion: z.string(),
});

export const stackStateSchema = z.strictObject({
  host: z.string(),
  temporal: processSchema.extend({ port: z.number().int(), uiPort: z.number().int() }).optional(),
  s3: processSchema.extend({ port: z.number().int(), kind: z.enum(['versitygw', 'minio']), bucket: z.string() }).optional(),
});

export type StackState = z.infer<typeof stackStateSchema>;
export type StackProcess = z.infer<typeof processSchema>;

/** The state file's content, or `undefined` when there is none (or it is unreadable). */
export function readState(file: string): StackState | undefined {
  try {
    return stackStateSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return undefined;
  }
}

/** Writes atomically so a crash never leaves half a pid file. */
export function writeState(file: string, state: StackState): void {
  if (!state.temporal && !state.s3) {
    rmSync(file, { force: true });
    return;
  }
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, file);
}

/** The live command line of `pid`, or `undefined` when it is not running. */
export function commandLineOf(pid: number): string[] | undefined {
  if (!isAlive(pid)) return undefined;
  try {
    // Linux: NUL-separated argv, exact.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((part) => part.length > 0);
  } catch {
    // Elsewhere (macOS): ps joins argv with spaces, so callers compare the joined form.
    try {
      return [execFileSync('ps', ['-p', String(pid), '-o', 'command='], { encoding: 'utf8' }).trim()];
    } catch {
      return undefined;
    }
  }
}

/** True when `process.pid` is alive and still runs exactly the command line we started. */
export function isOurProcess(recorded: StackProcess): boolean {
  const live = commandLineOf(recorded.pid);
  // A zombie's cmdline is empty, so an exited server never matches.
  if (!live || live.length === 0) return false;
  return live.join(' ') === recorded.argv.join(' ');
}
