import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Command } from 'commander';
import { PipelineError, PipelineSpecError } from '../../common/errors.ts';
import { checkRunKey } from '../../common/object-keys.ts';
import { workflowUiUrl } from '../config.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { describeRunFailure, formatRunFailure } from '../runs/failure.ts';
import { formatCodeUpload, s3CodeArchiveStore, uploadPipelineCode } from '../pipelines/code-upload.ts';
import { info, printResult } from '../output.ts';
import { pipelineStartOptions } from '../pipelines/pipeline-start.ts';
import { paramSettings, planRerun, rerunStart } from '../pipelines/rerun.ts';
import { progressFromHistory, recordedStart } from '../runs/run-history.ts';
import { loadClientStorage } from '../storage-connection.ts';
import { loadOrReport, withPipelineFileOptions, type PipelineFileFlags } from './pipeline-options.ts';

interface RerunFlags extends PipelineFileFlags, ConnectionFlags {
  from?: string;
  failed?: boolean;
  file?: string;
  runId?: string;
  runKey?: string;
  wait?: boolean;
}

/**
 * `mlp rerun <run> --from <step>` / `--failed`: a new run of the spec the run recorded that takes
 * the recorded outputs of the steps before the start step (after the workflow verified their
 * artifacts exist) and executes the start step and everything downstream of it.
 */
export function register(program: Command): void {
  withConnectionOptions(withPipelineFileOptions(program.command('rerun <workflowId>')))
    .description('Start a new run of a recorded run from a step, reusing the outputs of the steps before it')
    .option('--from <step>', 'execute this step and everything downstream; reuse the rest')
    .option('--failed', 'start from the step(s) that failed')
    .option('--file <pipeline>', 'the pipeline file, re-resolved with the recorded params and --set (needed for --set)')
    .option('--run-id <id>', 'a specific run of the workflow id (default: the latest)')
    .option('--run-key <key>', 'run key of the new run (default: rerun-<random>)')
    .option('--wait', 'wait for the new run to finish and print its outcome')
    .action(async (workflowId: string, flags: RerunFlags) => {
      const start = rerunStart(flags);
      if (flags.set.length > 0 && flags.file === undefined) {
        throw new PipelineSpecError('mlp rerun: --set needs --file <pipeline>: a recorded spec has its params already substituted, so only the pipeline file can be re-resolved');
      }
      if (flags.runKey !== undefined) checkRunKey(flags.runKey);
      const { client, config, close } = await connectClient(flags);
      try {
        const original = client.workflow.getHandle(workflowId, flags.runId);
        let description;
        try {
          description = await original.describe();
        } catch (error) {
          if (error instanceof WorkflowNotFoundError) {
            throw new PipelineError(`Rerunning ${workflowId} failed: no such run${flags.runId === undefined ? '' : ` (run id ${flags.runId})`} in namespace ${config.namespace}`);
          }
          throw error;
        }
        if (description.status.name === 'RUNNING') {
          throw new PipelineError(`Rerunning ${workflowId} failed: the run is still going; wait for it or cancel it first`);
        }
        const history = await client.workflow.getHandle(workflowId, description.runId).fetchHistory();
        const { spec: recorded } = recordedStart(history, workflowId);
        const before = progressFromHistory(history, workflowId);
        let spec = recorded;
        if (flags.file !== undefined) {
          const loaded = await loadOrReport(flags.file, { ...flags, set: [...paramSettings(recorded.params), ...flags.set] });
          if (loaded === undefined) return;
          if (loaded.resolved.name !== recorded.name) {
            throw new PipelineSpecError(`mlp rerun: ${flags.file} is pipeline "${loaded.resolved.name}", but ${workflowId} ran "${recorded.name}"`);
          }
          // The file's code may have changed since the recorded run: store it before the new run starts.
          const codeLine = formatCodeUpload(await uploadPipelineCode(loaded, () => s3CodeArchiveStore(loadClientStorage(flags))), loaded.code);
          if (codeLine !== undefined && !flags.json) info(codeLine);
          spec = loaded.resolved;
        }
        const plan = planRerun(recorded, spec, { workflowId, state: before.state, steps: before.steps }, start);
        const from = `${workflowId}/${description.runId}`;
        const newWorkflowId = `${spec.name}-${flags.runKey ?? `rerun-${randomUUID().slice(0, 8)}`}`;
        const startOptions = pipelineStartOptions(spec, { workflowId: newWorkflowId, taskQueuePrefix: config.taskQueuePrefix });
        const [args0] = startOptions.args;
        const handle = await client.workflow.start('runPipeline', {
          ...startOptions,
          args: [args0, { taskQueuePrefix: config.taskQueuePrefix, reuse: { run: from, steps: plan.reuse } }],
          memo: { ...startOptions.memo, rerunOf: from, from: plan.from.join(',') },
        });
        const started = {
          workflowId: newWorkflowId,
          runId: handle.firstExecutionRunId,
          rerunOf: { workflowId, runId: description.runId },
          from: plan.from,
          execute: plan.execute,
          reuse: Object.keys(plan.reuse),
          url: workflowUiUrl(config, newWorkflowId, handle.firstExecutionRunId),
        };
        const summary = (): string =>
          [
            `started ${newWorkflowId} rerunning ${workflowId} from ${plan.from.join(', ')}`,
            `  execute: ${plan.execute.join(', ') || '(nothing)'}`,
            `  reuse:   ${started.reuse.join(', ') || '(nothing)'} (if their artifacts still exist)`,
            started.url,
          ].join('\n');
        if (!flags.wait) {
          printResult(flags, started, summary);
          return;
        }
        if (!flags.json) info(summary());
        try {
          const outputs = await handle.result();
          printResult(flags, { ...started, status: 'completed', outputs }, () => `${newWorkflowId}: completed`);
        } catch (error) {
          const failure = describeRunFailure(error);
          if (failure === undefined) throw error;
          if (flags.json) printResult(flags, { ...started, status: 'failed', failure }, () => '');
          else info(`error: ${formatRunFailure(failure)}`);
          process.exitCode = 1;
        }
      } finally {
        await close();
      }
    });
}
