import type { ActivityDeps } from '../deps.ts';
import { createRegistryActivities } from './registry-activities.ts';

export type { ModelDescription, ModelSummary, PromoteRequest, PromoteResult, VersionSummary } from '../../common/model-registry.ts';

/** The registry activities behind `mlp models` (the `publish` step is activities/steps/publish.ts). */
export function createModelRegistryActivities(deps: ActivityDeps) {
  return createRegistryActivities(deps);
}
