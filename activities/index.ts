import { createDataActivities } from './data/index.ts';
import type { StepActivities } from '../common/step-activities.ts';
import type { ActivityDeps } from './deps.ts';
import { createEvaluationActivities } from './evaluation/evaluate-model.ts';
import { createNoopActivities } from './noop.ts';
import { createModelRegistryActivities } from './registry/index.ts';
import { createStepCacheActivities } from './step-cache.ts';
import { createStorageCheckActivities } from './storage-check.ts';
import { createTrainingActivities } from './training/train-step.ts';

export type { ActivityDeps } from './deps.ts';
export { ObjectStore } from './object-store.ts';

/**
 * Every activity the workers register, built from the worker's dependencies. Workflows see
 * only `typeof` this (through `import type`), never the implementations.
 */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createStorageCheckActivities(deps),
    ...createDataActivities(deps),
    ...createTrainingActivities(deps),
    ...createNoopActivities(deps),
    ...createStepCacheActivities(deps),
    ...createEvaluationActivities(deps),
    ...createModelRegistryActivities(deps),
  } satisfies StepActivities;
}

export type Activities = ReturnType<typeof createActivities>;
