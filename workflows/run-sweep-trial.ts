import { runStepWork, type StepWorkRequest, type StepWorkResult } from './step-work.ts';

/**
 * One trial of a large sweep as a child workflow (`runPipeline` starts it with id
 * `<workflowId>/<stepId>#<index>`): the trial's cache and activity events live in this
 * workflow's history instead of the pipeline's, which only records its start and result.
 */
export async function runSweepTrial(request: Omit<StepWorkRequest, 'onCacheMiss'>): Promise<StepWorkResult> {
  return runStepWork(request);
}
