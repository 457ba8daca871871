import { exitIfLauncherGoesWhileStarting } from './launcher-watch.ts';

/**
 * Worker process entry: `npm run worker`, the container's command, and what `mlp worker` and
 * `mlp demo` spawn. It watches its launcher before anything slow happens (see
 * launcher-watch.ts), then loads and starts the workers (run-worker.ts).
 */
const handOver = exitIfLauncherGoesWhileStarting();
const { runWorkerProcess } = await import('./run-worker.ts');
runWorkerProcess(handOver).catch((error: unknown) => {
  process.stderr.write(`worker failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
