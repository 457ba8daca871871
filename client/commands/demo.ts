import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { installServers } from '../servers/install.ts';
import { parseStackConfig, stackPaths } from '../stack/config.ts';
import { stackConnection, stackWorkerEnv } from '../stack/connection.ts';
import { stackUp } from '../stack/stack.ts';
import { startWorkerGroup } from '../workers/worker-group.ts';
import { handleDemoInterrupts } from '../demo/interrupts.ts';
import { parseClientConfig, workflowUiUrl } from '../config.ts';
import { describeRunFailure, formatRunFailure } from '../runs/failure.ts';
import { submitPipeline } from '../pipelines/pipeline-submit.ts';
import { formatCodeUpload, s3CodeArchiveStore, uploadPipelineCode } from '../pipelines/code-upload.ts';
import { followRun } from '../demo/follow-run.ts';
import { summarizeRun } from '../runs/run-summary.ts';
import { info, printResult } from '../output.ts';
import { DEMO_PIPELINE, localDemoSources, resolveDemoSources, type DemoSources } from '../demo/sources/resolve.ts';
import { fetchProgressPrinter } from '../demo/sources/progress-line.ts';
import { loadPipelineFile, type LoadedPipeline } from '../pipelines/pipeline-file.ts';
import { loadOrReport, withPipelineFileOptions, type PipelineFileFlags } from './pipeline-options.ts';

interface DemoFlags extends PipelineFileFlags {
  pipeline: string;
  keepWorker?: boolean;
}

/**
 * `mlp demo` (`npm run demo`): the whole project in one command. Builds the servers if needed,
 * starts the local stack and a worker, runs the demo pipeline with live progress, prints the
 * results and the Temporal UI link, then stops the worker (the stack stays up for the UI).
 * The demo pipeline's data and model come from wherever they can (demo-sources/resolve.ts:
 * yours, the development copy, the public sources, else synthetic and offline), said in one line.
 */
export function register(program: Command): void {
  withPipelineFileOptions(program.command('demo'))
    .description('Run the demo pipeline end to end on the local stack (servers, stack, worker, run)')
    .option('--pipeline <file>', 'pipeline to run', DEMO_PIPELINE)
    .option('--keep-worker', 'leave the worker running after the run')
    .action(async (flags: DemoFlags) => {
      const loaded = await loadOrReport(flags.pipeline, flags);
      if (loaded === undefined) return;
      // From here on a stop request (Ctrl-C, `timeout`, a supervisor) ends the demo cleanly,
      // whatever phase it is in; the demo's own workers stop with it.
      const interrupt = handleDemoInterrupts();
      const isDemoPipeline = resolve(flags.pipeline) === DEMO_PIPELINE;
      // Yours or the development copy are known now, and said first; the public sources and the
      // offline fallback need the object store, so they are said once the stack is up.
      let sources = isDemoPipeline ? localDemoSources(flags.set) : undefined;
      if (sources !== undefined) info(sources.line);

      info('1/4 servers: checking the Temporal dev server and S3 server builds');
      await installServers({ onEvent: (event) => event.type === 'tick' && info(`    still building ${event.tool}… ${event.elapsedS}s`) });

      info('2/4 stack: starting the Temporal dev server and S3 server');
      const stackConfig = parseStackConfig();
      await stackUp(stackConfig, (message) => info(`    ${message}`));
      const connection = stackConnection(stackConfig);

      let pipeline = loaded;
      if (isDemoPipeline) {
        if (sources === undefined) {
          sources = await resolveDemoSources({ userSettings: flags.set, stackHome: stackConfig.home, storage: connection.storage, onProgress: fetchProgressPrinter(info) });
          info(sources.line);
        }
        const resolved = await loadOrReport(sources.pipeline, { ...flags, set: await settingsFor(sources, flags.set) });
        if (resolved === undefined) return;
        pipeline = resolved;
      }

      const workerLog = join(stackPaths(stackConfig.home).logs, 'demo-worker.log');
      info(`3/4 worker: starting a cpu+gpu worker (log: ${workerLog})`);
      const worker = startWorkerGroup({ env: { ...stackWorkerEnv(connection), MLP_WORKER_QUEUES: 'cpu,gpu' }, logFile: workerLog });
      const workerExited = worker.exited;
      interrupt.stopping(worker);
      info(`    worker pids ${worker.processes.map((child) => child.pid).join(', ')} (they stop when the demo stops)`);

      const clientConfig = parseClientConfig({ address: connection.temporalAddress, uiUrl: connection.uiUrl });
      const temporal = await Connection.connect({ address: clientConfig.address });
      try {
        const client = new Client({ connection: temporal, namespace: clientConfig.namespace });
        // A fresh run key per demo run: a second demo shows the step cache at work.
        const runKey = new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15);
        const codeLine = formatCodeUpload(await uploadPipelineCode(pipeline, () => s3CodeArchiveStore(connection.storage)), pipeline.code);
        if (codeLine !== undefined) info(`    ${codeLine}`);
        const run = await submitPipeline(client, pipeline.resolved, { runKey, taskQueuePrefix: clientConfig.taskQueuePrefix });
        const url = workflowUiUrl(clientConfig, run.workflowId, run.runId);
        interrupt.submitted(run.workflowId);
        info(`4/4 run: ${run.workflowId}\n    Temporal UI: ${url}`);

        const finished = Promise.race([
          followRun(run.handle, info),
          workerExited.then((code) => Promise.reject(new Error(`The worker exited with code ${code}; see ${workerLog}`))),
        ]);
        await finished;
        try {
          const outputs = await run.handle.result();
          const sourcesJson = sources && { kind: sources.kind, line: sources.line, ...(sources.resultsNote ? { note: sources.resultsNote } : {}) };
          printResult(flags, { workflowId: run.workflowId, runId: run.runId, url, outputs, ...(sourcesJson ? { sources: sourcesJson } : {}) }, () =>
            [
              '',
              'Results:',
              summarizeRun(pipeline.resolved.steps, outputs, connection.storage.bucket),
              ...(sources?.resultsNote ? ['', sources.resultsNote] : []),
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

/**
 * The sources' `--set` values, then the user's own, keeping only params the chosen pipeline
 * declares: the offline pipeline has fewer (no featureEngine), and a setting meant for the real
 * demo must not stop it.
 */
async function settingsFor(sources: DemoSources, userSettings: readonly string[]): Promise<string[]> {
  const declared: LoadedPipeline = await loadPipelineFile(sources.pipeline, sources.settings);
  const names = new Set(Object.keys(declared.spec.params));
  const kept = userSettings.filter((setting) => names.has(setting.slice(0, setting.indexOf('='))));
  const dropped = userSettings.filter((setting) => !kept.includes(setting));
  if (dropped.length > 0) info(`    not used by ${sources.pipeline}: --set ${dropped.join(' --set ')}`);
  return [...sources.settings, ...kept];
}
