import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { PipelineError } from '../../common/errors.ts';
import { workflowUiUrl } from '../config.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { formatRunFailure } from '../runs/failure.ts';
import { EXIT_FAILURE, info, printResult } from '../output.ts';
import { pipelineStartOptions } from '../pipelines/pipeline-start.ts';
import { compareOutputs, datasetHashes, datasetHashGuard, reproductionSpec, type StepComparison } from '../pipelines/reproduce.ts';
import { progressFromHistory, recordedStart } from '../runs/run-history.ts';
import { lineRenderer, watchRun } from '../runs/watch.ts';
import { checkRunKey } from '../../common/object-keys.ts';

interface ReproduceFlags extends ConnectionFlags {
  runId?: string;
  runKey?: string;
  useCache?: boolean;
  wait?: boolean;
  json?: boolean;
}

function formatComparison(comparison: StepComparison[]): string {
  return comparison
    .map((step) => `  ${step.step}: ${step.result}${step.differing?.length ? ` (${step.differing.join(', ')})` : ''}`)
    .join('\n');
}

/**
 * `mlp reproduce <run>`: re-submits the spec a finished run recorded (same params, seed, pinned
 * checksums) under a new run key, checks that the inputs hash the same as before, and compares
 * every step's outputs with the original's.
 */
export function register(program: Command): void {
  withConnectionOptions(program.command('reproduce <workflowId>'))
    .description('Re-run the spec a run recorded (same params and seed) and check that it reproduces')
    .option('--run-id <id>', 'a specific run of the workflow id (default: the latest)')
    .option('--run-key <key>', 'run key of the new run (default: repro-<random>)')
    .option('--use-cache', 'let steps reuse cached outputs (default: every step runs again)')
    .option('--no-wait', 'submit and return without checking the outcome')
    .option('--json', 'print the result as JSON')
    .action(async (workflowId: string, flags: ReproduceFlags) => {
      const { client, config, close } = await connectClient(flags);
      try {
        const original = client.workflow.getHandle(workflowId, flags.runId);
        const description = await original.describe();
        if (description.status.name === 'RUNNING') {
          throw new PipelineError(`Reproducing ${workflowId} failed: the run is still going; wait for it or cancel it first`);
        }
        const history = await original.fetchHistory();
        const { spec } = recordedStart(history, workflowId);
        const before = progressFromHistory(history, workflowId);
        const rerunSpec = reproductionSpec(spec, { useCache: flags.useCache === true });
        if (flags.runKey !== undefined) checkRunKey(flags.runKey);
        const newWorkflowId = `${spec.name}-${flags.runKey ?? `repro-${randomUUID().slice(0, 8)}`}`;
        const startOptions = pipelineStartOptions(rerunSpec, { workflowId: newWorkflowId, taskQueuePrefix: config.taskQueuePrefix });
        const handle = await client.workflow.start('runPipeline', {
          ...startOptions,
          memo: { ...startOptions.memo, reproduces: workflowId, reproducesRunId: description.runId },
        });
        const started = {
          workflowId: newWorkflowId,
          runId: handle.firstExecutionRunId,
          reproduces: { workflowId, runId: description.runId },
          url: workflowUiUrl(config, newWorkflowId, handle.firstExecutionRunId),
        };
        if (flags.wait === false) {
          printResult(flags, started, () => `started ${newWorkflowId} reproducing ${workflowId}\n${started.url}`);
          return;
        }
        if (!flags.json) info(`started ${newWorkflowId} reproducing ${workflowId}\n${started.url}`);
        const expected = datasetHashes(before.steps);
        let watched;
        try {
          watched = await watchRun(client, newWorkflowId, handle.firstExecutionRunId, datasetHashGuard(workflowId, expected, flags.json ? undefined : lineRenderer()), {
            intervalMs: 1000,
          });
        } catch (error) {
          // Different input data: the rest cannot reproduce, so stop spending compute on it.
          await handle.cancel().catch(() => undefined);
          throw error;
        }
        const comparison = compareOutputs({ workflowId, steps: before.steps }, watched.view);
        const reproduced = watched.view.status === 'COMPLETED' && comparison.every((step) => step.result === 'identical');
        const datasets = Object.fromEntries(expected);
        const result = {
          ...started,
          status: watched.view.status,
          reproduced,
          datasetHashes: datasets,
          steps: comparison,
          ...(watched.failure ? { failure: watched.failure } : {}),
        };
        printResult(flags, result, () =>
          [
            `${newWorkflowId}: ${reproduced ? 'reproduced' : 'NOT reproduced'} ${workflowId}`,
            ...Object.entries(datasets).map(([step, hash]) => `  ${step}: same dataset ${hash.slice(0, 12)}`),
            formatComparison(comparison),
            ...(watched.failure ? [`  ${formatRunFailure(watched.failure)}`] : []),
          ].join('\n'),
        );
        if (!reproduced) process.exitCode = EXIT_FAILURE;
      } finally {
        await close();
      }
    });
}
