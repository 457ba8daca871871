import type { ActivityDeps } from './deps.ts';
import { createNotificationActivities } from './notify/notification-activities.ts';
import { createModelRegistryActivities } from './registry/index.ts';
import { createStepActivities } from './steps/index.ts';
import { createStepCacheActivities } from './step-cache.ts';
import { createStepReuseActivities } from './step-reuse.ts';
import { createStorageCheckActivities } from './storage-check.ts';
import { createStorageGcActivities } from './housekeeping/storage-gc.ts';
import { createCacheEntriesActivities } from './housekeeping/cache-entries.ts';
import { createStepLogActivities } from './run/step-log-reader.ts';
import { createLocateObjectsActivities } from './results/locate-objects.ts';
import { createTrackingActivities } from './tracking/tracking-activities.ts';

export type { ActivityDeps } from './deps.ts';
export { ObjectStore } from './object-store.ts';

/**
 * Every activity the workers register, built from the worker's dependencies. Workflows see
 * only `typeof` this (through `import type`), never the implementations.
 */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createStorageCheckActivities(deps),
    ...createStepActivities(deps),
    ...createStepCacheActivities(deps),
    ...createStepReuseActivities(deps),
    ...createModelRegistryActivities(deps),
    ...createStorageGcActivities(deps),
    ...createCacheEntriesActivities(deps),
    ...createStepLogActivities(deps),
    ...createNotificationActivities(deps),
    ...createLocateObjectsActivities(deps),
    ...createTrackingActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
