import type { Command } from 'commander';
import { workflowUiUrl } from '../config.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { printResult } from '../output.ts';
import { formatRunView } from '../runs/run-format.ts';
import { loadRunView } from '../runs/run-view.ts';

interface ShowFlags extends ConnectionFlags {
  runId?: string;
  json?: boolean;
}

/** `mlp show <run>`: steps, timings, attempts, cache hits, metrics, artifact keys, report. */
export function register(program: Command): void {
  withConnectionOptions(program.command('show <workflowId>'))
    .description('Show a run: steps, timings, attempts, cache hits, metrics, artifact keys and report')
    .option('--run-id <id>', 'a specific run of the workflow id (default: the latest)')
    .option('--json', 'print the run as JSON')
    .action(async (workflowId: string, flags: ShowFlags) => {
      const { client, config, close } = await connectClient(flags);
      try {
        const view = await loadRunView(client, client.workflow.getHandle(workflowId, flags.runId));
        const url = workflowUiUrl(config, workflowId, view.runId);
        printResult(flags, { ...view, url }, () => formatRunView(view, url));
      } finally {
        await close();
      }
    });
}
