import {
  type ActivityOptions,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  TemporalFailure,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { StepCacheActivities } from '../activities/step-cache.ts';
import type { CacheKeyParts } from '../common/cache-key.ts';
import type { StepReuseActivities } from '../activities/step-reuse.ts';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/errors.ts';
import { resolveStepOutputs } from '../common/expressions.ts';
import type { PipelineProgress, RunState, StepProgress } from '../common/pipeline-progress.ts';
import type { ResolvedPipeline, ResolvedStep } from '../common/resolved-pipeline.ts';
import { compileRunPipelineOptions, type RunPipelineOptions } from '../common/run-options.ts';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../common/search-attributes.ts';
import { isStepKindName, stepActivity, stepRunPrefix, type StepActivities, type StepOutputs } from '../common/step-activities.ts';
import { stepCacheActivityId, type StepCacheOperation } from '../common/step-activity-ids.ts';
import { taskQueueName } from '../common/task-queues.ts';
import { DagShapeError, runDag, topologicalOrder, withDownstream } from './dag.ts';
import { searchAttributesFromOutputs } from './output-attributes.ts';
import { pipelineProgressQuery } from './queries.ts';
import { renderCurrentDetails } from './details.ts';
import { stepActivityOptions } from './step-options.ts';

interface StepResult {
  /** The step's `with:` after references were resolved. */
  inputs: Record<string, unknown>;
  outputs: StepOutputs;
  cached: boolean;
  cacheKey?: string;
  /** The earlier run whose recorded outputs were reused (`mlp rerun`). */
  reusedFrom?: string;
  /** Why outputs meant for reuse were not (the step ran instead). */
  reuseMiss?: string;
  /** Why the step's cache entry was not served (an artifact is missing or changed; the step ran instead). */
  cacheMiss?: string;
}

/**
 * Cache keys computed with their parts (code fingerprint and engine included) and hits served only
 * after their artifacts were verified: new activities, so histories recorded before keep replaying
 * the old path.
 */
const VERIFIED_CACHE_PATCH = 'verified-code-aware-cache';

function errorMessage(error: unknown): string {
  if (error instanceof ActivityFailure && error.cause !== undefined) return errorMessage(error.cause);
  if (error instanceof ApplicationFailure && error.type) return `${error.type}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function specFailure(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: 'PipelineSpecError', nonRetryable: true });
}

/**
 * Runs a resolved pipeline as a DAG: each step starts as soon as its `needs` succeeded, as one
 * activity on its queue. The first failed step cancels the running ones and fails the run with
 * its id in the message. Returns every step's outputs by step id.
 */
export async function runPipeline(
  spec: ResolvedPipeline,
  options: RunPipelineOptions = {},
): Promise<Record<string, StepOutputs>> {
  const { taskQueuePrefix, reuse, refresh } = compileRunPipelineOptions(options);
  const { workflowId } = workflowInfo();
  const steps = new Map<string, ResolvedStep>(spec.steps.map((step) => [step.id, step]));
  const outputs: Record<string, StepOutputs> = {};

  const progress: PipelineProgress = {
    pipeline: spec.name,
    specHash: spec.specHash,
    state: 'running',
    startedAt: new Date().toISOString(),
    steps: spec.steps.map((step) => ({ id: step.id, uses: step.uses, queue: step.queue, state: 'pending', cached: false })),
  };
  const stepProgress = new Map(progress.steps.map((step) => [step.id, step]));
  const update = (id: string, change: Partial<StepProgress>): void => {
    const step = stepProgress.get(id);
    if (step !== undefined) Object.assign(step, change);
    setCurrentDetails(renderCurrentDetails(progress));
  };
  setHandler(pipelineProgressQuery, () => progress);

  const setRunState = (state: RunState): void => {
    progress.state = state;
    if (state !== 'running') progress.endedAt = new Date().toISOString();
    upsertSearchAttributes([{ key: PIPELINE_SEARCH_ATTRIBUTES.PipelineStatus, value: state }]);
    setCurrentDetails(renderCurrentDetails(progress));
  };

  upsertMemo({ specHash: spec.specHash, pipeline: spec.name });
  upsertSearchAttributes([{ key: PIPELINE_SEARCH_ATTRIBUTES.PipelineName, value: spec.name }]);
  setRunState('running');

  // Steps that skip the cache lookup (`mlp run --refresh`), with everything downstream of them.
  let refreshed: Set<string>;
  try {
    topologicalOrder(spec.steps);
    refreshed = withDownstream(spec.steps, refresh);
  } catch (error) {
    setRunState('failed');
    if (error instanceof DagShapeError) throw specFailure(`Invalid pipeline "${spec.name}": ${error.message}`);
    throw error;
  }

  // Cache bookkeeping runs on the cpu queue; ids like `train/cache-key` keep the UI readable and
  // leave the bare step id to the step's own activity (common/step-activity-ids.ts).
  const cache = (stepId: string, operation: StepCacheOperation): StepCacheActivities =>
    proxyActivities<StepCacheActivities>({
      activityId: stepCacheActivityId(stepId, operation),
      summary: `${stepId} ${operation}`,
      taskQueue: taskQueueName('cpu', taskQueuePrefix),
      startToCloseTimeout: '10 minutes',
      retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
    });

  // `mlp rerun`: an earlier run's outputs, verified on the cpu queue (id `train/reuse-check`).
  const reuseCheck = (stepId: string): StepReuseActivities =>
    proxyActivities<StepReuseActivities>({
      activityId: stepCacheActivityId(stepId, 'reuse-check'),
      summary: `${stepId} reuse-check`,
      taskQueue: taskQueueName('cpu', taskQueuePrefix),
      startToCloseTimeout: '10 minutes',
      retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
    });

  const runStep = async (id: string): Promise<StepOutputs> => {
    const step = steps.get(id);
    if (step === undefined) throw specFailure(`Unknown step "${id}"`);
    update(id, { state: 'running', startedAt: new Date().toISOString() });
    try {
      const result = await executeStep(step);
      outputs[id] = result.outputs;
      update(id, {
        state: result.reusedFrom !== undefined ? 'reused' : result.cached ? 'cached' : 'succeeded',
        cached: result.cached,
        outputs: result.outputs,
        endedAt: new Date().toISOString(),
        ...(result.cacheKey === undefined ? {} : { cacheKey: result.cacheKey }),
        ...(result.reusedFrom === undefined ? {} : { reusedFrom: result.reusedFrom }),
        ...(result.reuseMiss === undefined ? {} : { reuseMiss: result.reuseMiss }),
        ...(result.cacheMiss === undefined ? {} : { cacheMiss: result.cacheMiss }),
      });
      const attributes = searchAttributesFromOutputs(step.uses, result.inputs, result.outputs);
      if (attributes.length > 0) upsertSearchAttributes(attributes);
      return result.outputs;
    } catch (error) {
      const cancelled = isCancellation(error);
      update(id, {
        state: cancelled ? 'cancelled' : 'failed',
        endedAt: new Date().toISOString(),
        ...(cancelled ? {} : { error: errorMessage(error) }),
      });
      throw error;
    }
  };

  const executeStep = async (step: ResolvedStep): Promise<StepResult> => {
    if (!isStepKindName(step.uses)) throw specFailure(`Unknown step kind "${step.uses}" in step "${step.id}"`);
    let inputs: Record<string, unknown>;
    let activityOptions: ActivityOptions;
    try {
      const resolved = resolveStepOutputs(step.with, outputs);
      if (typeof resolved !== 'object' || resolved === null || Array.isArray(resolved)) {
        throw new Error('inputs are not an object');
      }
      inputs = Object.fromEntries(Object.entries(resolved));
      activityOptions = stepActivityOptions(step, taskQueuePrefix);
    } catch (error) {
      throw specFailure(`Cannot prepare step "${step.id}": ${errorMessage(error)}`);
    }
    let reuseMiss: string | undefined;
    const recorded = reuse?.steps[step.id];
    // Recorded outputs were computed from the recorded upstream outputs: once one of those ran
    // again (its artifact was gone), the step's inputs may differ, so it runs again too.
    const ranAgain = step.needs.find((need) => stepProgress.get(need)?.state !== 'reused');
    if (reuse !== undefined && recorded !== undefined && ranAgain !== undefined) {
      reuseMiss = `upstream step "${ranAgain}" ran again`;
      update(step.id, { reuseMiss });
    } else if (reuse !== undefined && recorded !== undefined) {
      const check = await reuseCheck(step.id).verifyReusedOutputs({ stepId: step.id, uses: step.uses, from: reuse.run, outputs: recorded });
      if (check.reusable) {
        log.info('Step reused', { stepId: step.id, from: reuse.run });
        return { inputs, outputs: check.outputs, cached: false, reusedFrom: reuse.run };
      }
      reuseMiss = check.reason;
      update(step.id, { reuseMiss });
      log.warn('Step not reused, running it again', { stepId: step.id, from: reuse.run, reason: check.reason });
    }
    let missed: { reuseMiss?: string; cacheMiss?: string } = reuseMiss === undefined ? {} : { reuseMiss };
    let cacheKey: string | undefined;
    let cacheKeyParts: CacheKeyParts | undefined;
    if (step.cache && patched(VERIFIED_CACHE_PATCH)) {
      ({ key: cacheKey, parts: cacheKeyParts } = await cache(step.id, 'cache-key').computeCacheKeyParts({ uses: step.uses, inputs }));
      // A refreshed step still computes its key: its new result replaces the entry.
      if (refreshed.has(step.id)) log.info('Step cache skipped: refresh requested', { stepId: step.id, cacheKey });
      const found = refreshed.has(step.id) ? ({ status: 'miss' } as const) : await cache(step.id, 'cache-lookup').lookupVerifiedCache(cacheKey);
      if (found.status === 'hit') {
        log.info('Step cache hit', { stepId: step.id, cacheKey, from: found.entry.workflowId });
        return { inputs, outputs: found.entry.outputs, cached: true, cacheKey, ...missed };
      }
      if (found.status === 'stale') {
        const cacheMiss = `cache entry of run ${found.from} not used: ${found.reason}`;
        update(step.id, { cacheMiss });
        missed = { ...missed, cacheMiss };
        log.warn('Step cache entry unusable, running the step again', { stepId: step.id, cacheKey, from: found.from, reason: found.reason });
      }
    } else if (step.cache) {
      // Histories recorded before keys had parts and hits were verified replay this path.
      cacheKey = await cache(step.id, 'cache-key').computeCacheKey({ uses: step.uses, inputs });
      const hit = refreshed.has(step.id) ? null : await cache(step.id, 'cache-lookup').lookupCache(cacheKey);
      if (refreshed.has(step.id)) log.info('Step cache skipped: refresh requested', { stepId: step.id, cacheKey });
      if (hit !== null) {
        log.info('Step cache hit', { stepId: step.id, cacheKey, from: hit.workflowId });
        return { inputs, outputs: hit.outputs, cached: true, cacheKey, ...missed };
      }
    }
    log.info('Step started', { stepId: step.id, uses: step.uses, queue: step.queue });
    const activity = stepActivity(proxyActivities<StepActivities>(activityOptions), step.uses);
    const result = await activity(inputs, {
      pipeline: spec.name,
      workflowId,
      stepId: step.id,
      runPrefix: stepRunPrefix(workflowId, step.id),
      specHash: spec.specHash,
    });
    if (cacheKey !== undefined) {
      // Best effort: the step's work is done; a cache that cannot be written only costs a rerun.
      try {
        await cache(step.id, 'cache-record').recordCache({
          key: cacheKey,
          uses: step.uses,
          outputs: result,
          workflowId,
          stepId: step.id,
          ...(cacheKeyParts === undefined ? {} : { parts: cacheKeyParts }),
        });
      } catch (error) {
        if (isCancellation(error)) throw error;
        log.warn('Step cache not recorded', { stepId: step.id, cacheKey, error: errorMessage(error) });
      }
    }
    return { inputs, outputs: result, cached: false, ...(cacheKey === undefined ? {} : { cacheKey }), ...missed };
  };

  // Steps run in their own scope so the first failure can cancel the siblings still running.
  const scope = new CancellationScope();
  const run = await scope.run(() => runDag(spec.steps, runStep, () => scope.cancel()));
  for (const id of run.notStarted) update(id, { state: 'cancelled' });

  if (run.firstFailure === undefined) {
    setRunState('succeeded');
    return outputs;
  }
  const { id, error } = run.firstFailure;
  if (isCancellation(error) && CancellationScope.current().consideredCancelled) {
    setRunState('cancelled');
    throw error;
  }
  progress.failedStep = id;
  setRunState('failed');
  throw ApplicationFailure.create({
    type: 'StepFailedError',
    message: `Step "${id}" failed: ${errorMessage(error)}`,
    nonRetryable: true,
    details: [{ stepId: id }],
    ...(error instanceof TemporalFailure ? { cause: error } : {}),
  });
}
