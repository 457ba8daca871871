/**
 * The activity ids the `runPipeline` workflow gives a step's activities, and how the client reads
 * them back: one codec for both sides, so `mlp show`, `mlp watch` and failure reports follow any
 * change here instead of degrading silently. Step ids are identifiers (letters, digits, `_`,
 * `-`), so the `/` separator is unambiguous. Changing an id changes the workflow's commands:
 * saved histories must still replay (test/unit/replay.test.ts).
 */

/**
 * The bookkeeping activities around a step, in the order they run: the cache's, and `reuse-check`
 * (`mlp rerun` verifying the artifacts of an earlier run's outputs before reusing them).
 */
export const STEP_CACHE_OPERATIONS = ['reuse-check', 'cache-key', 'cache-lookup', 'cache-record'] as const;
export type StepCacheOperation = (typeof STEP_CACHE_OPERATIONS)[number];

/** What an activity id says: the step's own activity, or one of its cache operations. */
export type StepActivityRef = { stepId: string; operation?: undefined } | { stepId: string; operation: StepCacheOperation };

/** The step's own activity: the bare step id (the Temporal UI lists it under the step's name). */
export function stepActivityId(stepId: string): string {
  return stepId;
}

/** A cache operation of the step, e.g. `train/cache-key`. */
export function stepCacheActivityId(stepId: string, operation: StepCacheOperation): string {
  return `${stepId}/${operation}`;
}

function isCacheOperation(value: string): value is StepCacheOperation {
  return (STEP_CACHE_OPERATIONS as readonly string[]).includes(value);
}

/** The step (and cache operation) an activity id names, or `undefined` for any other activity. */
export function parseStepActivityId(activityId: string): StepActivityRef | undefined {
  const separator = activityId.indexOf('/');
  if (separator < 0) return activityId === '' ? undefined : { stepId: activityId };
  const stepId = activityId.slice(0, separator);
  const operation = activityId.slice(separator + 1);
  return stepId !== '' && isCacheOperation(operation) ? { stepId, operation } : undefined;
}
