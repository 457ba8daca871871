import { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { workflowUiUrl, type ClientConfig } from '../config.ts';
import { connectTemporal, loadClientConfig, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { formatCodeUpload, s3CodeArchiveStore, uploadPipelineCode } from '../pipelines/code-upload.ts';
import { describeRunFailure, formatRunFailure } from '../runs/failure.ts';
import { info, printResult } from '../output.ts';
import { checkRefreshedSteps, submitPipeline } from '../pipelines/pipeline-submit.ts';
import { loadClientStorage } from '../storage-connection.ts';
import { loadOrReport, withPipelineFileOptions, type PipelineFileFlags } from './pipeline-options.ts';

interface RunFlags extends PipelineFileFlags, ConnectionFlags {
  runKey?: string;
  wait?: boolean;
  refresh: string[];
}

async function connect(config: ClientConfig): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await connectTemporal(config.address);
  return { client: new Client({ connection, namespace: config.namespace }), close: () => connection.close() };
}

/** `mlp run <file>`: validates, resolves and submits the pipeline as one `runPipeline` run. */
export function register(program: Command): void {
  withConnectionOptions(withPipelineFileOptions(program.command('run <file>')))
    .description('Validate and start a pipeline run; prints the run id and Temporal UI link')
    .option('--run-key <key>', 'business key of this run: workflow id = <pipeline>-<key> (default: from the spec hash)')
    .option('--wait', 'wait for the run to finish and print every step’s outputs')
    .option('--refresh <step>', 'recompute this step and everything after it instead of using the step cache (repeatable); their results replace the cache entries', (value: string, previous: string[]) => [...previous, value], [])
    .action(async (file: string, flags: RunFlags) => {
      const config = loadClientConfig(flags);
      const loaded = await loadOrReport(file, flags);
      if (loaded === undefined) return;
      const spec = loaded.resolved;
      checkRefreshedSteps(spec, flags.refresh);
      // Before submitting: a worker may start a run step as soon as the run exists.
      const code = await uploadPipelineCode(loaded, () => s3CodeArchiveStore(loadClientStorage(flags)));
      const codeLine = formatCodeUpload(code, loaded.code);
      if (codeLine !== undefined && !flags.json) info(codeLine);
      const { client, close } = await connect(config);
      try {
        const { handle, workflowId, runId, existing } = await submitPipeline(client, spec, {
          ...(flags.runKey ? { runKey: flags.runKey } : {}),
          taskQueuePrefix: config.taskQueuePrefix,
          refresh: flags.refresh,
        });
        const url = workflowUiUrl(config, workflowId, runId);
        const started = { workflowId, runId, specHash: spec.specHash, url, existing, refresh: flags.refresh, code };
        if (!flags.wait) {
          printResult(flags, started, () =>
            `${existing ? 'already ran' : 'started'} ${workflowId}\nrun id: ${runId}\n${url}`,
          );
          return;
        }
        info(`${existing ? 'already ran' : 'started'} ${workflowId} (run ${runId})\n${url}`);
        try {
          const outputs = await handle.result();
          printResult(flags, { ...started, status: 'completed', outputs }, () => formatOutputs(outputs));
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

function formatOutputs(outputs: Record<string, unknown>): string {
  return Object.entries(outputs)
    .map(([stepId, value]) => `${stepId}: ${JSON.stringify(value)}`)
    .join('\n');
}
