import { execFile, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { spawnWorkerProcess } from '../../client/worker-process.ts';
import type { TestServers } from './servers.ts';

const exec = promisify(execFile);

/** What one `mlp` command printed, and its exit code. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A worker *process* on the test servers (as users run it) and the `mlp` CLI pointed at the
 * same servers and task-queue prefix: what end-to-end suites need to drive a pipeline from the
 * command line. `stop()` ends the worker with SIGTERM and waits for it to exit.
 */
export interface CliWorker {
  worker: ChildProcess;
  /** Worker stdout and stderr, for failure messages. */
  logFile: string;
  mlp(...args: string[]): Promise<CliResult>;
  stop(): Promise<void>;
}

export function startCliWorker(servers: TestServers, options: { prefix: string; env?: Record<string, string> }): CliWorker {
  const logFile = join(servers.dir, `worker-${options.prefix}.log`);
  const worker = spawnWorkerProcess({
    env: {
      TEMPORAL_ADDRESS: servers.temporalAddress,
      TEMPORAL_NAMESPACE: servers.namespace,
      MLP_TASK_QUEUE_PREFIX: options.prefix,
      MLP_WORKER_QUEUES: 'cpu,gpu',
      MLP_SCRATCH_DIR: join(servers.dir, 'scratch'),
      MLP_LOG_LEVEL: 'warn',
      S3_ENDPOINT: servers.storage.endpoint,
      S3_BUCKET: servers.storage.bucket,
      S3_ACCESS_KEY_ID: servers.storage.accessKeyId,
      S3_SECRET_ACCESS_KEY: servers.storage.secretAccessKey,
      ...options.env,
    },
    logFile,
  });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const connection = ['--address', servers.temporalAddress, '--namespace', servers.namespace, '--task-queue-prefix', options.prefix];
  return {
    worker,
    logFile,
    async mlp(...args) {
      try {
        const { stdout, stderr } = await exec('npx', ['tsx', 'client/bin.ts', ...args, ...connection], { maxBuffer: 32 * 1024 * 1024 });
        return { code: 0, stdout, stderr };
      } catch (error) {
        return z.object({ code: z.number(), stdout: z.string(), stderr: z.string() }).parse(error);
      }
    },
    async stop() {
      if (worker.exitCode === null && worker.signalCode === null) {
        worker.kill('SIGTERM');
        await exited;
      }
    },
  };
}
