import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { checkRunKey } from '../common/object-keys.ts';
import type { ResolvedPipeline } from '../common/resolved-pipeline.ts';
import type { runPipeline } from '../workflows/index.ts';
import { pipelineStartOptions } from './pipeline-start.ts';

/** Default run key: the same resolved spec gives the same workflow id, so a resubmit is one run. */
export function defaultRunKey(specHash: string): string {
  return specHash.slice(0, 16);
}

export interface SubmittedRun {
  handle: WorkflowHandle<typeof runPipeline>;
  workflowId: string;
  runId: string;
  /** True when the workflow id already had a closed run (nothing new was started). */
  existing: boolean;
}

/**
 * Starts one `runPipeline` run with workflow id `<pipeline>-<runKey>`. Submitting the same
 * request twice attaches to the run in progress, and does not redo one that completed; only a
 * failed run is started again.
 */
export async function submitPipeline(
  client: Client,
  spec: ResolvedPipeline,
  options: { runKey?: string; taskQueuePrefix: string },
): Promise<SubmittedRun> {
  if (options.runKey !== undefined) checkRunKey(options.runKey);
  const workflowId = `${spec.name}-${options.runKey ?? defaultRunKey(spec.specHash)}`;
  try {
    const handle = await client.workflow.start<typeof runPipeline>('runPipeline', {
      ...pipelineStartOptions(spec, { workflowId, taskQueuePrefix: options.taskQueuePrefix }),
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    });
    return { handle, workflowId, runId: handle.firstExecutionRunId, existing: false };
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    const handle = client.workflow.getHandle<typeof runPipeline>(workflowId);
    return { handle, workflowId, runId: (await handle.describe()).runId, existing: true };
  }
}
