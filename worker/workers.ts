import { Worker, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { taskQueueName, workflowTaskQueue, type QueueKind } from '../common/index.ts';
import { createActivities, type ActivityDeps } from '../activities/index.ts';
import type { WorkerRole } from './config.ts';
import { bundleWorkflows, VERSIONED_WORKFLOWS_PATH, WORKFLOWS_PATH } from './workflow-bundle.ts';

export interface WorkerSetOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueuePrefix: string;
  queues: readonly QueueKind[];
  deps: ActivityDeps;
  /**
   * `workflows`: only workflow tasks (and queries) of the workflow queue; `activities`: only the
   * activities of `queues`; `all`: both. @default 'all'
   */
  role?: WorkerRole;
  /** How long running activities may finish after shutdown is requested, in ms. @default 0 */
  shutdownGraceMs?: number;
  /** Most activities each activity worker runs at once. @default the SDK's (100) */
  maxConcurrentActivities?: number;
  /** Prebuilt bundle (tests bundle once); built here when omitted. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /**
   * Workflows module to bundle when no bundle is given. @default workflows/versioned.ts with a
   * deployment, else workflows/index.ts (the server refuses versioning behaviors from an
   * unversioned worker)
   */
  workflowsPath?: string;
  /**
   * The worker deployment version these workers report (Worker Versioning); unversioned when
   * absent. Every workflow declares PINNED or AUTO_UPGRADE (workflows/versioned.ts); one that
   * does not is PINNED, the choice that never moves a run onto code it did not start with.
   */
  deployment?: { name: string; buildId: string };
}

/**
 * The Temporal workers this process runs. Workflow tasks go to the cpu queue only (they are
 * cheap), so a gpu-only worker skips bundling workflows. Temporal keeps workflow and activity
 * tasks of one queue apart, so a `workflows` process and an `activities` process can share the
 * cpu queue: a batch of training that holds the activity process's JS thread then never delays
 * a workflow task or a progress query.
 */
export async function createWorkers(options: WorkerSetOptions): Promise<Worker[]> {
  const role = options.role ?? 'all';
  const workflowQueue = workflowTaskQueue(options.taskQueuePrefix);
  const activityQueues = role === 'workflows' ? [] : options.queues.map((queue) => taskQueueName(queue, options.taskQueuePrefix));
  const servesWorkflows = role === 'workflows' || (role === 'all' && activityQueues.includes(workflowQueue));
  const workflowBundle = servesWorkflows ? (options.workflowBundle ?? (await bundleWorkflows(options.workflowsPath ?? (options.deployment ? VERSIONED_WORKFLOWS_PATH : WORKFLOWS_PATH)))) : undefined;
  const activities = activityQueues.length > 0 ? createActivities(options.deps) : undefined;
  const taskQueues = [...new Set([...activityQueues, ...(servesWorkflows ? [workflowQueue] : [])])];
  return Promise.all(
    taskQueues.map((taskQueue) =>
      Worker.create({
        connection: options.connection,
        namespace: options.namespace,
        taskQueue,
        ...(activities && activityQueues.includes(taskQueue) ? { activities } : {}),
        ...(options.maxConcurrentActivities !== undefined ? { maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities } : {}),
        ...(workflowBundle && taskQueue === workflowQueue ? { workflowBundle } : {}),
        // A cancel reaches an activity only with a heartbeat response; by default heartbeats are
        // throttled to 0.8 x heartbeatTimeout (48 s for a 1 m timeout). Stop within seconds.
        maxHeartbeatThrottleInterval: '5s',
        shutdownGraceTime: options.shutdownGraceMs ?? 0,
        ...(options.deployment
          ? {
              workerDeploymentOptions: {
                version: { deploymentName: options.deployment.name, buildId: options.deployment.buildId },
                useWorkerVersioning: true,
                defaultVersioningBehavior: 'PINNED',
              },
            }
          : {}),
      }),
    ),
  );
}

/**
 * Runs all workers until one stops (shutdown requested or fatal error), then stops the rest and
 * waits for every one to drain, so no running activity loses its connection. Rejects with the
 * first worker's error, if any.
 */
export async function runWorkers(workers: Worker[]): Promise<void> {
  const runs = workers.map((worker) => worker.run());
  try {
    await Promise.race(runs);
  } finally {
    for (const worker of workers) {
      if (worker.getState() === 'RUNNING') worker.shutdown();
    }
    await Promise.allSettled(runs);
  }
}
