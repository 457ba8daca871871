import { WorkflowFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { printResult } from '../output.ts';

interface CancelFlags extends ConnectionFlags {
  runId?: string;
  wait?: boolean;
  json?: boolean;
}

/**
 * `mlp cancel <run>`: requests cancellation. The workflow cancels its running steps and waits for
 * them to stop (they notice through their heartbeats), then ends as cancelled.
 */
export function register(program: Command): void {
  withConnectionOptions(program.command('cancel <workflowId>'))
    .description('Cancel a run; its running steps are cancelled too')
    .option('--run-id <id>', 'a specific run of the workflow id (default: the latest)')
    .option('--no-wait', 'return once the cancellation is requested, without waiting for the run to end')
    .option('--json', 'print the result as JSON')
    .action(async (workflowId: string, flags: CancelFlags) => {
      const { client, close } = await connectClient(flags);
      try {
        const handle = client.workflow.getHandle(workflowId, flags.runId);
        const { runId } = await handle.describe();
        await handle.cancel();
        let status = 'CANCEL_REQUESTED';
        if (flags.wait !== false) {
          // The result rejects for a cancelled run; the status afterwards is what counts.
          await handle.result().catch((error: unknown) => {
            if (!(error instanceof WorkflowFailedError)) throw error;
          });
          status = (await handle.describe()).status.name;
        }
        printResult(flags, { workflowId, runId, status }, () => `${workflowId}: ${status === 'CANCEL_REQUESTED' ? 'cancellation requested' : status.toLowerCase()}`);
        if (status !== 'CANCELLED' && status !== 'CANCEL_REQUESTED') process.exitCode = 1;
      } finally {
        await close();
      }
    });
}
