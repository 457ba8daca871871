import { fileURLToPath } from 'node:url';
import { constants } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { installServers } from '../servers/install.ts';
import { parseStackConfig, stackPaths } from '../stack/config.ts';
import { stackConnection, stackWorkerEnv } from '../stack/connection.ts';
import { stackUp } from '../stack/stack.ts';
import { FORWARDED_SIGNALS, startWorkerGroup } from '../worker-group.ts';
import { parseClientConfig, workflowUiUrl } from '../config.ts';
import { describeRunFailure, formatRunFailure } from '../failure.ts';
import { submitPipeline } from '../pipeline-submit.ts';
import { formatCodeUpload, s3CodeArchiveStore, uploadPipelineCode } from '../code-upload.ts';
import { followRun } from '../demo.ts';
import { summarizeRun } from '../run-summary.ts';
import { info, printResult } from '../output.ts';
import { loadOrReport, withPipelineFileOptions, type PipelineFileFlags } from './pipeline-options.ts';

const DEMO_PIPELINE = fileURLToPath(new URL('../../pipelines/demo.yaml', import.meta.url));

interface DemoFlags extends PipelineFileFlags {
  pipeline: string;
  keepWorker?: boolean;
}

/**
 * `mlp demo` (`npm run demo`): the whole project in one command. Builds the servers if needed,
 * starts the local stack and a worker, runs the demo pipeline with live progress, prints the
 * results and the Temporal UI link, then stops the worker (the stack stays up for the UI).
 */
export function register(program: Command): void {
  withPipelineFileOptions(program.command('demo'))
    .description('Run the demo pipeline end to end on the local stack (servers, stack, worker, run)')
    .option('--pipeline <file>', 'pipeline to run', DEMO_PIPELINE)
    .option('--keep-worker', 'leave the worker running after the run')
    .action(async (flags: DemoFlags) => {
      const loaded = await loadOrReport(flags.pipeline, flags);
      if (loaded === undefined) return;

      info('1/4 servers: checking the Temporal dev server and S3 server builds');
      await installServers({ onEvent: (event) => event.type === 'tick' && info(`    still building ${event.tool}… ${event.elapsedS}s`) });

      info('2/4 stack: starting the Temporal dev server and S3 server');
      const stackConfig = parseStackConfig();
      await stackUp(stackConfig, (message) => info(`    ${message}`));
      const connection = stackConnection(stackConfig);

      const workerLog = join(stackPaths(stackConfig.home).logs, 'demo-worker.log');
      info(`3/4 worker: starting a cpu+gpu worker (log: ${workerLog})`);
      const worker = startWorkerGroup({ env: { ...stackWorkerEnv(connection), MLP_WORKER_QUEUES: 'cpu,gpu' }, logFile: workerLog });
      const workerExited = worker.exited;
      // Interrupted: the workers shut down gracefully first, then the demo exits with their code.
      for (const signal of FORWARDED_SIGNALS) {
        process.on(signal, () => {
          worker.kill(signal);
          void workerExited.then(() => process.exit(128 + constants.signals[signal]));
        });
      }

      const clientConfig = parseClientConfig({ address: connection.temporalAddress, uiUrl: connection.uiUrl });
      const temporal = await Connection.connect({ address: clientConfig.address });
      try {
        const client = new Client({ connection: temporal, namespace: clientConfig.namespace });
        // A fresh run key per demo run: a second demo shows the step cache at work.
        const runKey = new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15);
        const codeLine = formatCodeUpload(await uploadPipelineCode(loaded, () => s3CodeArchiveStore(connection.storage)), loaded.code);
        if (codeLine !== undefined) info(`    ${codeLine}`);
        const run = await submitPipeline(client, loaded.resolved, { runKey, taskQueuePrefix: clientConfig.taskQueuePrefix });
        const url = workflowUiUrl(clientConfig, run.workflowId, run.runId);
        info(`4/4 run: ${run.workflowId}\n    Temporal UI: ${url}`);

        const finished = Promise.race([
          followRun(run.handle, info),
          workerExited.then((code) => Promise.reject(new Error(`The worker exited with code ${code}; see ${workerLog}`))),
        ]);
        await finished;
        try {
          const outputs = await run.handle.result();
          printResult(flags, { workflowId: run.workflowId, runId: run.runId, url, outputs }, () =>
            [
              '',
              'Results:',
              summarizeRun(loaded.resolved.steps, outputs, connection.storage.bucket),
              '',
              `Inspect the run:  ${url}`,
              `All outputs:      ./mlp show ${run.workflowId} --json`,
              'Run it again:     npm run demo   (unchanged steps come from the cache)',
              'Stop the stack:   ./mlp stack down',
            ].join('\n'),
          );
        } catch (error) {
          const failure = describeRunFailure(error);
          if (failure === undefined) throw error;
          info(`error: ${formatRunFailure(failure)}\n    worker log: ${workerLog}\n    ${url}`);
          process.exitCode = 1;
        }
      } finally {
        await temporal.close();
        if (!flags.keepWorker) {
          worker.kill('SIGTERM');
          await workerExited;
        }
      }
    });
}
