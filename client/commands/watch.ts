import type { Command } from 'commander';
import { positiveInteger } from '../cli-options.ts';
import { workflowUiUrl } from '../config.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { EXIT_FAILURE, info } from '../output.ts';
import { barRenderer, jsonLinesRenderer, lineRenderer, watchRun } from '../runs/watch.ts';

interface WatchFlags extends ConnectionFlags {
  runId?: string;
  interval: number;
  json?: boolean;
}

/** `mlp watch <run>`: live progress until the run closes; the exit code is the run's outcome. */
export function register(program: Command): void {
  withConnectionOptions(program.command('watch <workflowId>'))
    .description('Follow a run live: a progress bar per step; exits 0 when it succeeded, 1 otherwise')
    .option('--run-id <id>', 'a specific run of the workflow id (default: the latest)')
    .option('--interval <ms>', 'how often to poll the run', positiveInteger, 1000)
    .option('--json', 'stream JSON lines: a progress snapshot on every change, then an end line')
    .action(async (workflowId: string, flags: WatchFlags) => {
      const { client, config, close } = await connectClient(flags);
      try {
        const renderer = flags.json ? jsonLinesRenderer() : process.stderr.isTTY ? barRenderer() : lineRenderer();
        if (!flags.json) info(workflowUiUrl(config, workflowId, flags.runId));
        const { view } = await watchRun(client, workflowId, flags.runId, renderer, { intervalMs: flags.interval });
        if (view.status !== 'COMPLETED') process.exitCode = EXIT_FAILURE;
      } finally {
        await close();
      }
    });
}
