import type { Lineage } from '../../common/model-registry.ts';
import { publishStep } from '../../common/step-kinds/publish.ts';
import { publish } from '../registry/publish-model.ts';
import { defineStep } from './define-step.ts';

/** The `publish` step: registers the model version with its lineage and applies the promotion gate (activities/registry/). */
export const createPublishActivity = defineStep(publishStep, ({ store, codeVersion }) => async ({ input, context, info }) => {
  const runId = info.workflowExecution?.runId ?? 'unknown';
  const lineage: Lineage = {
    pipeline: context.pipeline,
    workflowId: context.workflowId,
    runId,
    stepId: context.stepId,
    ...(context.specHash ? { specHash: context.specHash } : {}),
    ...(input.datasetHash ? { datasetHash: input.datasetHash } : {}),
    ...(input.manifestHash ? { manifestHash: input.manifestHash } : {}),
    ...(input.engine ? { engine: input.engine } : {}),
    ...(input.seed !== undefined ? { seed: input.seed } : {}),
    ...(input.code ? { code: input.code } : {}),
    ...(codeVersion ? { codeVersion } : {}),
    sourceModel: input.model,
  };
  return publish(store, input, { owner: `${context.workflowId}/${runId}/${context.stepId}`, lineage });
});
