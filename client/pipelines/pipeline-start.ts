import type { WorkflowStartOptions } from '@temporalio/client';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import type { RunPipelineOptions } from '../../common/run-options.ts';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../../common/search-attributes.ts';
import { DEFAULT_TASK_QUEUE_PREFIX, workflowTaskQueue } from '../../common/task-queues.ts';
import { compactWorkflowInput } from '../../common/workflow-input.ts';

/** The `runPipeline` workflow's type name and arguments. */
export type RunPipelineArgs = [ResolvedPipeline, RunPipelineOptions];

/**
 * Start options of a `runPipeline` run: its queue, arguments, memo (spec hash), initial search
 * attributes (so a just-started run is already findable by pipeline name) and the static summary
 * and details the Temporal UI shows above the history.
 */
export function pipelineStartOptions(
  spec: ResolvedPipeline,
  options: { workflowId: string; taskQueuePrefix?: string; refresh?: readonly string[] },
): WorkflowStartOptions<(...args: RunPipelineArgs) => Promise<unknown>> {
  const taskQueuePrefix = options.taskQueuePrefix ?? DEFAULT_TASK_QUEUE_PREFIX;
  const steps = spec.steps.map((step) => `- \`${step.id}\` (${step.uses} on ${step.queue})`);
  return {
    workflowId: options.workflowId,
    taskQueue: workflowTaskQueue(taskQueuePrefix),
    // Only a non-empty `refresh` is sent: a plain run's input stays what it always was. The spec
    // goes without the built-in retry types its steps repeat (common/workflow-input.ts).
    args: [compactWorkflowInput(spec), { taskQueuePrefix, ...(options.refresh?.length ? { refresh: [...options.refresh] } : {}) }],
    memo: { specHash: spec.specHash, pipeline: spec.name },
    typedSearchAttributes: [
      { key: PIPELINE_SEARCH_ATTRIBUTES.PipelineName, value: spec.name },
      { key: PIPELINE_SEARCH_ATTRIBUTES.PipelineStatus, value: 'running' },
    ],
    staticSummary: `${spec.name}: ${spec.steps.length} steps`,
    staticDetails: [spec.description ?? spec.name, '', `spec ${spec.specHash}`, '', ...steps].join('\n'),
  };
}
