import { LAUNCHED_WITH_IPC_ENV } from '../common/worker-launcher.ts';

/**
 * Whether this process was started by a launcher that expects it to stop with it (`mlp worker`,
 * `mlp demo`). Such a launcher gives it an IPC channel: a socket the kernel closes when the
 * launcher dies, even by SIGKILL.
 */
export function launchedWithIpc(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[LAUNCHED_WITH_IPC_ENV] === '1';
}

/** Whether the launcher is already gone (its IPC channel closed, or never came up). */
export function launcherGone(env: NodeJS.ProcessEnv = process.env): boolean {
  return launchedWithIpc(env) && !process.connected;
}

/**
 * Until the workers can shut down gracefully (worker/shutdown.ts takes over), a launcher that
 * goes away ends this process at once: starting takes seconds (modules, the training engine,
 * code fingerprints, the connection), and a `disconnect` event that fires before anyone listens
 * is never repeated, which left workers of a killed `mlp demo` running forever. Returns the
 * function that hands over to the graceful handler.
 */
export function exitIfLauncherGoesWhileStarting(): () => void {
  if (!launchedWithIpc()) return () => undefined;
  const exitNow = (): never => {
    process.stderr.write('worker: its launcher exited while the worker was starting; stopping\n');
    process.exit(1);
  };
  if (!process.connected) exitNow();
  process.once('disconnect', exitNow);
  return () => {
    process.off('disconnect', exitNow);
  };
}
