import type { Command } from 'commander';
import { QUEUE_KINDS } from '../../common/index.ts';
import { parseStackConfig } from '../stack/config.ts';
import { stackConnection, stackWorkerEnv } from '../stack/connection.ts';
import { spawnWorkerProcess } from '../worker-process.ts';
import { info } from '../output.ts';

interface WorkerFlags {
  queues: string;
  engine?: string;
  home?: string;
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
    .action(async (flags: WorkerFlags) => {
      const connection = stackConnection(parseStackConfig({ home: flags.home }));
      info(`worker → Temporal ${connection.temporalAddress}, S3 ${connection.storage.endpoint} (bucket ${connection.storage.bucket})`);
      const child = spawnWorkerProcess({
        env: {
          ...stackWorkerEnv(connection),
          MLP_WORKER_QUEUES: flags.queues,
          ...(flags.engine ? { MLP_ENGINE: flags.engine } : {}),
        },
      });
      // The terminal's Ctrl-C reaches the child too (same process group); wait for its clean exit.
      process.on('SIGINT', () => undefined);
      const code = await new Promise<number>((resolve) => child.once('exit', (exitCode) => resolve(exitCode ?? 1)));
      process.exitCode = code;
    });
}
