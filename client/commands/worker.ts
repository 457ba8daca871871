import type { Command } from 'commander';
import { QUEUE_KINDS } from '../../common/index.ts';
import { parseStackConfig } from '../stack/config.ts';
import { stackConnection, stackWorkerEnv } from '../stack/connection.ts';
import { runWorkerGroupInForeground, startWorkerGroup, type WorkerLayout } from '../workers/worker-group.ts';
import { info } from '../output.ts';

interface WorkerFlags {
  queues: string;
  engine?: string;
  home?: string;
  singleProcess?: boolean;
}

/**
 * `mlp worker`: runs a worker against the local stack (`mlp stack up`), filling in its address
 * and credentials. Against any other cluster, run `npm run worker` with the env of worker/config.ts.
 */
export function register(program: Command): void {
  program
    .command('worker')
    .description('Run a worker connected to the local stack (Ctrl-C stops it gracefully)')
    .option('--queues <list>', `queues to poll, comma-separated: ${QUEUE_KINDS.join(', ')}`, 'cpu,gpu')
    .option('--engine <name>', 'training engine (auto, webgpu, wasm, cpu, …)')
    .option('--home <dir>', 'local stack folder (env MLP_HOME, default .data/stack)')
    .option('--single-process', 'run workflows and activities in one process (training then delays queries and workflow tasks)')
    .action(async (flags: WorkerFlags) => {
      const connection = stackConnection(parseStackConfig({ home: flags.home }));
      const layout: WorkerLayout = flags.singleProcess ? 'single' : 'split';
      info(`worker → Temporal ${connection.temporalAddress}, S3 ${connection.storage.endpoint} (bucket ${connection.storage.bucket})`);
      const group = startWorkerGroup({
        layout,
        env: {
          ...stackWorkerEnv(connection),
          MLP_WORKER_QUEUES: flags.queues,
          ...(flags.engine ? { MLP_ENGINE: flags.engine } : {}),
        },
      });
      info(`worker processes (${layout}): ${group.processes.map((child) => child.pid).join(' ')}`);
      // SIGTERM/SIGINT/SIGHUP go on to the workers (graceful shutdown); we exit with them.
      process.exitCode = await runWorkerGroupInForeground(group);
    });
}
