import type { StepOutputs } from './step-activities.ts';
import { DEFAULT_TASK_QUEUE_PREFIX } from './task-queues.ts';

/** Deployment settings of a `runPipeline` run (its second argument); not part of the spec. */
export interface RunPipelineOptions {
  /**
   * Prefix of the task queues the steps run on (`<prefix>-cpu`, `<prefix>-gpu`).
   * @default DEFAULT_TASK_QUEUE_PREFIX
   */
  taskQueuePrefix?: string;
  /**
   * `mlp run --refresh <step>`: steps that skip the cache lookup and run again, and with them
   * every step downstream of them (their inputs may have changed). Their results overwrite the
   * cache entries. Ids not in the spec are ignored here; the client rejects them first.
   * @default [] (every cached step may hit)
   */
  refresh?: string[];
  /**
   * `mlp rerun`: outputs of an earlier run's steps to reuse instead of running those steps again
   * (after their artifacts are verified). Keys and metrics only, so it fits in the workflow input.
   * @default none: every step runs (or hits the cache)
   */
  reuse?: ReusedRun;
}

/** Steps of an earlier run whose recorded outputs a rerun reuses. */
export interface ReusedRun {
  /** The earlier run, `<workflowId>/<runId>`. */
  run: string;
  /** Recorded outputs by step id. */
  steps: Record<string, StepOutputs>;
}

/** Options with every default filled in. */
export interface CompiledRunPipelineOptions {
  taskQueuePrefix: string;
  refresh: string[];
  reuse?: ReusedRun;
}

export function compileRunPipelineOptions(options: RunPipelineOptions = {}): CompiledRunPipelineOptions {
  return {
    taskQueuePrefix: options.taskQueuePrefix ?? DEFAULT_TASK_QUEUE_PREFIX,
    refresh: options.refresh ?? [],
    ...(options.reuse === undefined ? {} : { reuse: options.reuse }),
  };
}
