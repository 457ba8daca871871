import { Worker, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { taskQueueName, workflowTaskQueue, type QueueKind } from '../common/index.ts';
import { createActivities, type ActivityDeps } from '../activities/index.ts';
import { bundleWorkflows } from './workflow-bundle.ts';

export interface WorkerSetOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueuePrefix: string;
  queues: readonly QueueKind[];
  deps: ActivityDeps;
  /** Prebuilt bundle (tests bundle once); built here when omitted. */
  workflowBundle?: WorkflowBundleWithSourceMap;
}

/**
 * One Temporal worker per logical queue this process serves. Workflow tasks go to the cpu
 * queue only (they are cheap), so a gpu-only worker skips bundling workflows.
 */
export async function createWorkers(options: WorkerSetOptions): Promise<Worker[]> {
  const activities = createActivities(options.deps);
  const workflowQueue = workflowTaskQueue(options.taskQueuePrefix);
  const needsWorkflows = options.queues.some((queue) => taskQueueName(queue, options.taskQueuePrefix) === workflowQueue);
  const workflowBundle = needsWorkflows ? (options.workflowBundle ?? (await bundleWorkflows())) : undefined;
  return Promise.all(
    options.queues.map((queue) => {
      const taskQueue = taskQueueName(queue, options.taskQueuePrefix);
      return Worker.create({
        connection: options.connection,
        namespace: options.namespace,
        taskQueue,
        activities,
        // A cancel reaches an activity only with a heartbeat response; by default heartbeats are
        // throttled to 0.8 x heartbeatTimeout (48 s for a 1 m timeout). Stop within seconds.
        maxHeartbeatThrottleInterval: '5s',
        ...(taskQueue === workflowQueue && workflowBundle ? { workflowBundle } : {}),
      });
    }),
  );
}

/** Runs all workers until one stops (shutdown signal or fatal error), then stops the rest. */
export async function runWorkers(workers: Worker[]): Promise<void> {
  try {
    await Promise.race(workers.map((worker) => worker.run()));
  } finally {
    for (const worker of workers) {
      if (worker.getState() === 'RUNNING') worker.shutdown();
    }
  }
}
