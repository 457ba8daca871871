import type { ChildProcess } from 'node:child_process';

/** Kills a process at once (SIGKILL, as a crash or an OOM kill does) and waits until it exited; a process that already ended is left alone. */
export async function killNow(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
