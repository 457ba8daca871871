import type { Client } from '@temporalio/client';
import { info } from '../output.ts';

/** Whether any worker polled the workflow task queue recently (so a workflow there makes progress). */
export async function hasWorkflowPollers(client: Client, taskQueue: string): Promise<boolean> {
  const response = await client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name: taskQueue } });
  return (response.pollers ?? []).length > 0;
}

/**
 * Says so on stderr when no worker polls `taskQueue`: commands that run a helper workflow there
 * (`mlp models`, `gc`, `cache explain`) would otherwise wait without a word until one starts.
 */
export async function warnWhenNoWorker(client: Client, taskQueue: string): Promise<void> {
  if (await hasWorkflowPollers(client, taskQueue)) return;
  info(`no worker polls task queue ${taskQueue} yet: waiting for one (start it with \`mlp worker\`, or stop with Ctrl-C)`);
}
