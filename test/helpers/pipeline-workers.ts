import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { QUEUE_KINDS, taskQueueName, workflowTaskQueue, type QueueKind } from '../../common/task-queues.ts';
import { bundleWorkflows } from '../../worker/workflow-bundle.ts';

/**
 * In-process workers for `runPipeline` tests and benchmarks: the real workflow bundle on the
 * cpu queue and the given activities on both queues, under a unique task-queue prefix.
 *
 * Unversioned (no Worker Deployment), on purpose: these tests swap activities for recording or
 * gated fakes under one build of the code, so a build ID would name nothing, and a run's routing
 * would wait on the deployment's current version for no benefit. Worker processes (cli-worker.ts,
 * spawnWorkerProcess) run versioned as in production, each test in a namespace of its own, and
 * test/integration/worker-versioning.test.ts checks pinning across builds. A worker process that
 * shares a prefix with these must set MLP_WORKER_VERSIONING=off (run-step, train-step tests).
 */

export interface PipelineWorkers {
  client: Client;
  taskQueuePrefix: string;
  workflowTaskQueue: string;
  stop(): Promise<void>;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The project workflows, bundled once per process (bundling takes seconds). */
export function projectWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflows();
  return bundle;
}

export async function startPipelineWorkers(options: {
  temporalAddress: string;
  namespace: string;
  activities: object;
  prefix?: string;
  /** Queues served in this process (e.g. only `cpu`, with a child-process worker on `gpu`). @default all */
  queues?: readonly QueueKind[];
}): Promise<PipelineWorkers> {
  const taskQueuePrefix = `${options.prefix ?? 'test'}-${randomUUID().slice(0, 8)}`;
  const nativeConnection = await NativeConnection.connect({ address: options.temporalAddress });
  const connection = await Connection.connect({ address: options.temporalAddress });
  const workflowBundle = await projectWorkflowBundle();
  const workers = await Promise.all(
    (options.queues ?? QUEUE_KINDS).map((queue) => {
      const taskQueue = taskQueueName(queue, taskQueuePrefix);
      return Worker.create({
        connection: nativeConnection,
        namespace: options.namespace,
        taskQueue,
        activities: options.activities,
        ...(taskQueue === workflowTaskQueue(taskQueuePrefix) ? { workflowBundle } : {}),
      });
    }),
  );
  const running = workers.map((worker) => worker.run());
  return {
    client: new Client({ connection, namespace: options.namespace }),
    taskQueuePrefix,
    workflowTaskQueue: workflowTaskQueue(taskQueuePrefix),
    async stop() {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(running);
      await connection.close();
      await nativeConnection.close();
    },
  };
}
