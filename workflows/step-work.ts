import { type ActivityOptions, isCancellation, log, patched, proxyActivities } from '@temporalio/workflow';
import type { StepCacheActivities } from '../activities/step-cache.ts';
import type { CacheKeyParts } from '../common/cache-key.ts';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/errors.ts';
import type { ResolvedStep } from '../common/resolved-pipeline.ts';
import { stepActivity, type StepActivities, type StepContext, type StepOutputs } from '../common/step-activities.ts';
import type { StepKindName } from '../common/step-kinds/index.ts';
import { stepCacheActivityId, type StepCacheOperation } from '../common/step-activity-ids.ts';
import { taskQueueName } from '../common/task-queues.ts';
import { errorMessage } from './failures.ts';

/**
 * The work of one step (or one trial of a sweep) once its inputs are resolved: the cache key,
 * a verified cache hit or the step's activity, then the cache record. Shared by `runPipeline`
 * and the `runSweepTrial` child workflow, so a trial is cached exactly like a step.
 */

/**
 * Cache keys computed with their parts (code fingerprint and engine included) and hits served only
 * after their artifacts were verified: new activities, so histories recorded before keep replaying
 * the old path.
 */
export const VERIFIED_CACHE_PATCH = 'verified-code-aware-cache';

export interface StepWorkRequest {
  step: Pick<ResolvedStep, 'id' | 'uses' | 'queue' | 'cache'> & { uses: StepKindName };
  inputs: Record<string, unknown>;
  /** Id of the work: the step id, or a trial's (`train#3`); the cache activities' ids start with it. */
  key: string;
  activityOptions: ActivityOptions;
  context: StepContext;
  taskQueuePrefix: string;
  /** `mlp run --refresh`: skip the lookup, record the new result. */
  refresh: boolean;
  /**
   * Start-to-close timeout of each cache activity (they do not heartbeat: a worker killed during
   * one holds the step this long). @default '10 minutes'
   */
  cacheTimeout?: string;
  /** Called when a cache entry exists but cannot be served (the step runs instead). */
  onCacheMiss?: (reason: string) => void;
}

export interface StepWorkResult {
  outputs: StepOutputs;
  cached: boolean;
  cacheKey?: string;
  cacheMiss?: string;
}

export async function runStepWork(request: StepWorkRequest): Promise<StepWorkResult> {
  const { step, inputs, key, taskQueuePrefix, refresh, context } = request;
  // Cache bookkeeping runs on the cpu queue; ids like `train/cache-key` keep the UI readable and
  // leave the bare step id to the step's own activity (common/step-activity-ids.ts).
  const cache = (operation: StepCacheOperation): StepCacheActivities =>
    proxyActivities<StepCacheActivities>({
      activityId: stepCacheActivityId(key, operation),
      summary: `${key} ${operation}`,
      taskQueue: taskQueueName('cpu', taskQueuePrefix),
      startToCloseTimeout: request.cacheTimeout ?? '10 minutes',
      retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
    });
  let cacheMiss: string | undefined;
  let cacheKey: string | undefined;
  let cacheKeyParts: CacheKeyParts | undefined;
  if (step.cache && patched(VERIFIED_CACHE_PATCH)) {
    ({ key: cacheKey, parts: cacheKeyParts } = await cache('cache-key').computeCacheKeyParts({ uses: step.uses, inputs }));
    // A refreshed step still computes its key: its new result replaces the entry.
    if (refresh) log.info('Step cache skipped: refresh requested', { stepId: key, cacheKey });
    const found = refresh ? ({ status: 'miss' } as const) : await cache('cache-lookup').lookupVerifiedCache(cacheKey);
    if (found.status === 'hit') {
      log.info('Step cache hit', { stepId: key, cacheKey, from: found.entry.workflowId });
      return { outputs: found.entry.outputs, cached: true, cacheKey };
    }
    if (found.status === 'stale') {
      cacheMiss = `cache entry of run ${found.from} not used: ${found.reason}`;
      request.onCacheMiss?.(cacheMiss);
      log.warn('Step cache entry unusable, running the step again', { stepId: key, cacheKey, from: found.from, reason: found.reason });
    }
  } else if (step.cache) {
    // Histories recorded before keys had parts and hits were verified replay this path.
    cacheKey = await cache('cache-key').computeCacheKey({ uses: step.uses, inputs });
    const hit = refresh ? null : await cache('cache-lookup').lookupCache(cacheKey);
    if (refresh) log.info('Step cache skipped: refresh requested', { stepId: key, cacheKey });
    if (hit !== null) {
      log.info('Step cache hit', { stepId: key, cacheKey, from: hit.workflowId });
      return { outputs: hit.outputs, cached: true, cacheKey };
    }
  }
  log.info('Step started', { stepId: key, uses: step.uses, queue: step.queue });
  const activity = stepActivity(proxyActivities<StepActivities>(request.activityOptions), step.uses);
  const result = await activity(inputs, context);
  if (cacheKey !== undefined) {
    // Best effort: the step's work is done; a cache that cannot be written only costs a rerun.
    try {
      await cache('cache-record').recordCache({
        key: cacheKey,
        uses: step.uses,
        outputs: result,
        workflowId: context.workflowId,
        stepId: step.id,
        ...(cacheKeyParts === undefined ? {} : { parts: cacheKeyParts }),
      });
    } catch (error) {
      if (isCancellation(error)) throw error;
      log.warn('Step cache not recorded', { stepId: key, cacheKey, error: errorMessage(error) });
    }
  }
  return { outputs: result, cached: false, ...(cacheKey === undefined ? {} : { cacheKey }), ...(cacheMiss === undefined ? {} : { cacheMiss }) };
}
