import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { EXPLAIN_CACHE_WORKFLOW, ExplainCacheResultSchema } from '../../common/cache-explain.ts';
import { workflowTaskQueue } from '../../common/task-queues.ts';
import { explainRun, formatExplanation, recordedKeyParts, type RunExplanation } from '../runs/cache-explain.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { reportHelperWorkflowFailure } from '../runs/failure.ts';
import { printResult } from '../output.ts';
import { warnWhenNoWorker } from '../runs/task-queue-pollers.ts';
import { progressFromHistory, recordedStart } from '../runs/run-history.ts';

interface ExplainFlags extends ConnectionFlags {
  runId?: string;
  step?: string;
  json?: boolean;
}

/** `mlp cache explain <run>`: per step, hit or miss and which part of the cache key changed. */
export function register(program: Command): void {
  const cache = program.command('cache').description('Inspect the step cache');
  withConnectionOptions(cache.command('explain <workflowId>'))
    .description('For each step of a run: cache hit or miss, and for a miss which part of the key (kind, version, code, engine, params, inputs) changed since the step’s previous entry, or whether a refresh or a missing artifact made it run')
    .option('--run-id <id>', 'a specific run of the workflow id (default: the latest)')
    .option('--step <id>', 'only this step')
    .option('--json', 'print the explanation as JSON')
    .action(async (workflowId: string, flags: ExplainFlags) => {
      const { client, config, close } = await connectClient(flags);
      try {
        const handle = client.workflow.getHandle(workflowId, flags.runId);
        const history = await handle.fetchHistory();
        const { spec, options } = recordedStart(history, workflowId);
        const steps = spec.steps.filter((step) => flags.step === undefined || step.id === flags.step);
        if (steps.length === 0) throw new Error(`--step: run ${workflowId} has no step "${flags.step}" (its steps: ${spec.steps.map((step) => step.id).join(', ')})`);
        await warnWhenNoWorker(client, workflowTaskQueue(config.taskQueuePrefix));
        const entries = ExplainCacheResultSchema.parse(
          await client.workflow.execute(EXPLAIN_CACHE_WORKFLOW, {
            taskQueue: workflowTaskQueue(config.taskQueuePrefix),
            workflowId: `cache-explain-${randomUUID().slice(0, 8)}`,
            args: [{ steps: steps.filter((step) => step.cache).map((step) => ({ stepId: step.id, uses: step.uses })) }],
          }),
        );
        const refresh = Array.isArray(options.refresh) ? options.refresh.filter((id): id is string => typeof id === 'string') : [];
        const all = explainRun(spec, { refresh }, progressFromHistory(history, workflowId), recordedKeyParts(history), entries);
        const explanation: RunExplanation = {
          workflowId,
          ...(flags.runId === undefined ? {} : { runId: flags.runId }),
          pipeline: spec.name,
          steps: all.filter((step) => flags.step === undefined || step.step === flags.step),
        };
        printResult(flags, explanation, () => formatExplanation(explanation));
      } catch (error) {
        reportHelperWorkflowFailure(error);
      } finally {
        await close();
      }
    });
}
