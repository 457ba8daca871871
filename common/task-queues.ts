import { z } from 'zod';

/** Logical worker queues a step can ask for in a pipeline (`queue: cpu | gpu`). */
export const QUEUE_KINDS = ['cpu', 'gpu'] as const;
export type QueueKind = (typeof QUEUE_KINDS)[number];

/** Prefix of every Temporal task queue this project polls; override per deployment. */
export const DEFAULT_TASK_QUEUE_PREFIX = 'ml-pipelines';

/** A task queue prefix (`MLP_TASK_QUEUE_PREFIX`, `--task-queue-prefix`): one per environment sharing a namespace. */
export const taskQueuePrefixSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected letters, digits, ".", "_" or "-" (it becomes part of the task queue names)');

/** Temporal task queue name for a logical queue, e.g. `ml-pipelines-gpu`. */
export function taskQueueName(kind: QueueKind, prefix: string = DEFAULT_TASK_QUEUE_PREFIX): string {
  return `${prefix}-${kind}`;
}

/** Queue the pipeline workflow itself runs on (workflow tasks are cheap: the cpu worker takes them). */
export function workflowTaskQueue(prefix: string = DEFAULT_TASK_QUEUE_PREFIX): string {
  return taskQueueName('cpu', prefix);
}
