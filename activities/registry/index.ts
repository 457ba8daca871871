import type { ActivityDeps } from '../deps.ts';
import { createPublishActivities } from './publish-model.ts';
import { createRegistryActivities } from './registry-activities.ts';

export type { ModelDescription, ModelSummary, PromoteRequest, PromoteResult, VersionSummary } from '../../common/model-registry.ts';

/** The `publishModel` step activity and the registry activities behind `mlp models`. */
export function createModelRegistryActivities(deps: ActivityDeps) {
  return { ...createPublishActivities(deps), ...createRegistryActivities(deps) };
}
