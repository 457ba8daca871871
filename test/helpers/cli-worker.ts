import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { startWorkerGroup, type WorkerGroup } from '../../client/workers/worker-group.ts';
import type { TestServers } from './servers.ts';
import { workerStorageEnv } from './servers.ts';

const exec = promisify(execFile);

/** What one `mlp` command printed, and its exit code. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Worker *processes* on the test servers, as `mlp worker` starts them (a workflows process and
 * an activities process), and the `mlp` CLI pointed at the same servers and task-queue prefix:
 * what end-to-end suites need to drive a pipeline from the command line. `stop()` ends the
 * workers with SIGTERM and waits for them to exit. Versioned, as in production: they join the
 * `ml-pipelines` deployment of the test's own namespace, and the first build becomes current.
 */
export interface CliWorker {
  worker: WorkerGroup;
  /** Worker stdout and stderr, for failure messages and log checks. */
  logFile: string;
  /** Everything every `mlp` command printed so far (stdout and stderr), e.g. to look for secrets. */
  output: string[];
  mlp(...args: string[]): Promise<CliResult>;
  stop(): Promise<void>;
}

export function startCliWorker(servers: TestServers, options: { prefix: string; env?: Record<string, string> }): CliWorker {
  const logFile = join(servers.dir, `worker-${options.prefix}.log`);
  const worker = startWorkerGroup({
    env: {
      TEMPORAL_ADDRESS: servers.temporalAddress,
      TEMPORAL_NAMESPACE: servers.namespace,
      MLP_TASK_QUEUE_PREFIX: options.prefix,
      MLP_WORKER_QUEUES: 'cpu,gpu',
      MLP_SCRATCH_DIR: join(servers.dir, 'scratch'),
      MLP_LOG_LEVEL: 'warn',
      ...workerStorageEnv(servers.storage),
      ...options.env,
    },
    logFile,
  });
  const connection = ['--address', servers.temporalAddress, '--namespace', servers.namespace, '--task-queue-prefix', options.prefix];
  const output: string[] = [];
  return {
    worker,
    logFile,
    output,
    async mlp(...args) {
      let result: CliResult;
      try {
        const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', ...args, ...connection], { maxBuffer: 32 * 1024 * 1024 });
        result = { code: 0, stdout, stderr };
      } catch (error) {
        result = z.object({ code: z.number(), stdout: z.string(), stderr: z.string() }).parse(error);
      }
      output.push(result.stdout, result.stderr);
      return result;
    },
    async stop() {
      worker.kill('SIGTERM');
      await worker.exited;
    },
  };
}
