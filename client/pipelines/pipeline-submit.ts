import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { PipelineSpecError } from '../../common/errors.ts';
import { checkRunKey } from '../../common/object-keys.ts';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import type { runPipeline } from '../../workflows/index.ts';
import { pipelineStartOptions } from './pipeline-start.ts';

/**
 * Rejects `--refresh` ids the pipeline does not have (the workflow would silently ignore them).
 * @throws PipelineSpecError naming the unknown id and the pipeline's step ids
 */
export function checkRefreshedSteps(spec: ResolvedPipeline, refresh: readonly string[]): void {
  const ids = spec.steps.map((step) => step.id);
  const unknown = refresh.filter((id) => !ids.includes(id));
  if (unknown.length > 0) {
    throw new PipelineSpecError(`--refresh: pipeline "${spec.name}" has no step ${unknown.map((id) => `"${id}"`).join(', ')} (its steps: ${ids.join(', ')})`);
  }
}

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
  options: { runKey?: string; taskQueuePrefix: string; refresh?: readonly string[] },
): Promise<SubmittedRun> {
  if (options.runKey !== undefined) checkRunKey(options.runKey);
  const refresh = options.refresh ?? [];
  checkRefreshedSteps(spec, refresh);
  // A refresh asks for new work: its default key is fresh each time, never an earlier run's.
  const runKey = options.runKey ?? (refresh.length > 0 ? `${defaultRunKey(spec.specHash)}-refresh-${randomUUID().slice(0, 8)}` : defaultRunKey(spec.specHash));
  const workflowId = `${spec.name}-${runKey}`;
  try {
    const handle = await client.workflow.start<typeof runPipeline>('runPipeline', {
      ...pipelineStartOptions(spec, { workflowId, taskQueuePrefix: options.taskQueuePrefix, refresh }),
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
