import { DEFAULT_TASK_QUEUE_PREFIX } from './task-queues.ts';

/** Deployment settings of a `runPipeline` run (its second argument); not part of the spec. */
export interface RunPipelineOptions {
  /**
   * Prefix of the task queues the steps run on (`<prefix>-cpu`, `<prefix>-gpu`).
   * @default DEFAULT_TASK_QUEUE_PREFIX
   */
  taskQueuePrefix?: string;
}

/** Options with every default filled in. */
export interface CompiledRunPipelineOptions {
  taskQueuePrefix: string;
}

export function compileRunPipelineOptions(options: RunPipelineOptions = {}): CompiledRunPipelineOptions {
  return { taskQueuePrefix: options.taskQueuePrefix ?? DEFAULT_TASK_QUEUE_PREFIX };
}
