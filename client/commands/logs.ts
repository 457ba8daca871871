import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { PipelineError } from '../../common/errors.ts';
import { READ_STEP_LOGS_WORKFLOW, StepLogsResponseSchema, type StepLogsRequest, type StepLogsResponse } from '../../common/step-log.ts';
import { workflowTaskQueue } from '../../common/task-queues.ts';
import { positiveInteger } from '../cli-options.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { reportHelperWorkflowFailure } from '../runs/failure.ts';
import { EXIT_FAILURE, info, printResult } from '../output.ts';
import { loadRunView, type RunView } from '../runs/run-view.ts';
import { checkSelection, formatLogLine, parseStepArgument, selectionFailed, streamStepLogs, type LogSelection } from '../runs/step-logs.ts';
import { warnWhenNoWorker } from '../runs/task-queue-pollers.ts';

interface LogsFlags extends ConnectionFlags {
  follow?: boolean;
  attempt?: number;
  interval: number;
  json?: boolean;
}

/** Reads logs through a `readStepLogs` workflow on the cpu worker: the CLI holds no storage credentials. */
function logReader(
  client: Client,
  taskQueue: string,
  request: Omit<StepLogsRequest, 'offsets'>,
): (offsets: Record<string, number>, poll: { waitMs: number; complete: string[] }) => Promise<StepLogsResponse> {
  return async (offsets, poll) => {
    const result: unknown = await client.workflow.execute(READ_STEP_LOGS_WORKFLOW, {
      taskQueue,
      workflowId: `logs-${request.workflowId}-${randomUUID().slice(0, 8)}`,
      args: [{ ...request, offsets, ...poll } satisfies StepLogsRequest],
    });
    return StepLogsResponseSchema.parse(result);
  };
}

async function runView(client: Client, workflowId: string, namespace: string): Promise<RunView> {
  try {
    return await loadRunView(client, client.workflow.getHandle(workflowId));
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new PipelineError(`mlp logs: no run ${workflowId} in namespace ${namespace} (mlp list shows the runs)`);
    throw error;
  }
}

/** `mlp logs <run> [step]`: the streamed stdout and stderr of a run's `run` steps, live with --follow. */
export function register(program: Command): void {
  withConnectionOptions(program.command('logs <workflowId> [step]'))
    .description("Print the logs of a run's run steps (one step, a sweep trial as <step>#<n>, or every step, each line prefixed by its step)")
    .option('-f, --follow', 'keep printing new lines until the step (or, without a step, the run) has finished; exits 1 when it failed')
    .option('--attempt <n>', 'this attempt of the step (default: the latest)', positiveInteger)
    .option('--interval <ms>', 'with --follow: least time between two reads of a busy log (a quiet one is long-polled)', positiveInteger, 2000)
    .option('--json', 'print the logs as JSON (with --follow: one JSON line per log line)')
    .action(async (workflowId: string, step: string | undefined, flags: LogsFlags) => {
      const { client, config, close } = await connectClient(flags);
      try {
        const selection: LogSelection = { ...parseStepArgument(step), ...(flags.attempt === undefined ? {} : { attempt: flags.attempt }) };
        const view = await runView(client, workflowId, config.namespace);
        checkSelection(view, selection);
        const taskQueue = workflowTaskQueue(config.taskQueuePrefix);
        await warnWhenNoWorker(client, taskQueue);
        // Several logs share the output (every step's, or a sweep's trials): each line says whose it is.
        const isSweep = view.steps.find((candidate) => candidate.id === selection.stepId)?.trials !== undefined;
        const prefixed = selection.stepId === undefined || (isSweep && selection.trial === undefined);
        const streamed = await streamStepLogs({
          selection,
          view,
          read: logReader(client, taskQueue, {
            workflowId,
            ...(selection.stepId === undefined ? {} : { stepId: selection.stepId }),
            ...(selection.attempt === undefined ? {} : { attempt: selection.attempt }),
          }),
          follow: flags.follow === true,
          refreshView: () => runView(client, workflowId, config.namespace),
          intervalMs: flags.interval,
          onLine: (line) => {
            if (flags.json === true && flags.follow === true) process.stdout.write(`${JSON.stringify(line)}\n`);
            else if (flags.json !== true) process.stdout.write(`${formatLogLine(line, prefixed)}\n`);
          },
          onNotice: info,
        });
        if (flags.json === true && flags.follow !== true) printResult(flags, { workflowId, logs: streamed.logs }, () => '');
        if (flags.follow === true && selectionFailed(streamed.view, selection)) process.exitCode = EXIT_FAILURE;
      } catch (error) {
        reportHelperWorkflowFailure(error);
      } finally {
        await close();
      }
    });
}
