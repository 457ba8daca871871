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

/**
 * What an activity id says: the step's own activity, or one of its cache operations; `trial`
 * when it belongs to a trial of a sweep step (`train#3`, `train#3/cache-key`).
 */
export type StepActivityRef = ({ stepId: string; operation?: undefined } | { stepId: string; operation: StepCacheOperation }) & { trial?: number };

/** The step's own activity: the bare step id (the Temporal UI lists it under the step's name). */
export function stepActivityId(stepId: string): string {
  return stepId;
}

/** A cache operation of the step, e.g. `train/cache-key`. */
export function stepCacheActivityId(stepId: string, operation: StepCacheOperation): string {
  return `${stepId}/${operation}`;
}

/** The activity of trial `index` of sweep step `stepId` (`train#3`); its cache operations append `/cache-key` etc. */
export function trialActivityId(stepId: string, index: number): string {
  return `${stepId}#${index}`;
}

/**
 * The activity of item `index` of foreach step `stepId` (`shard[3]`); its cache operations append
 * `/cache-key` etc. Not a trial: `parseStepActivityId` reads it as no step of the run.
 */
export function itemActivityId(stepId: string, index: number): string {
  return `${stepId}[${index}]`;
}

const TRIAL_ID = /^(.+)#(\d+)$/;

/** Splits `train#3` into the step and the trial; a plain step id has no trial. */
function splitTrial(id: string): { stepId: string; trial?: number } {
  const match = TRIAL_ID.exec(id);
  return match?.[1] === undefined || match[2] === undefined ? { stepId: id } : { stepId: match[1], trial: Number(match[2]) };
}

function isCacheOperation(value: string): value is StepCacheOperation {
  return (STEP_CACHE_OPERATIONS as readonly string[]).includes(value);
}

/** The step (and cache operation) an activity id names, or `undefined` for any other activity. */
export function parseStepActivityId(activityId: string): StepActivityRef | undefined {
  const separator = activityId.indexOf('/');
  if (separator < 0) return activityId === '' ? undefined : splitTrial(activityId);
  const owner = activityId.slice(0, separator);
  const operation = activityId.slice(separator + 1);
  return owner !== '' && isCacheOperation(operation) ? { ...splitTrial(owner), operation } : undefined;
}
