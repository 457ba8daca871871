import {
  type ActivityOptions,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  executeChild,
  isCancellation,
  log,
  patched,
  proxyActivities,
  TemporalFailure,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { StepReuseActivities } from '../activities/step-reuse.ts';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/errors.ts';
import { resolveMatrix, resolveStepOutputs } from '../common/expressions.ts';
import type { ResolvedForeach, ResolvedPipeline, ResolvedStep } from '../common/resolved-pipeline.ts';
import { compileRunPipelineOptions, type RunPipelineOptions } from '../common/run-options.ts';
import { CONCURRENT_GROUPS, DEFAULT_MAX_PARALLEL, FOREACH_CHILD_THRESHOLD, MAX_FOREACH_ITEMS, STEP_GROUP_SIZE } from '../common/scale-limits.ts';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../common/search-attributes.ts';
import { isStepKindName, stepRunPrefix, trialRunPrefix, type StepContext, type StepOutputs } from '../common/step-activities.ts';
import { stepCacheActivityId } from '../common/step-activity-ids.ts';
import { childParallelism, planStepUnits, type StepUnit } from '../common/step-groups.ts';
import { findStepKind, type StepKindName } from '../common/step-kinds/index.ts';
import { formatTrialMatrix, SWEEP_CHILD_WORKFLOW_THRESHOLD, trialId, type ResolvedSweep } from '../common/sweep.ts';
import { taskQueueName } from '../common/task-queues.ts';
import { DagShapeError, runDag, topologicalOrder, withDownstream } from './dag.ts';
import { errorMessage, specFailure } from './failures.ts';
import { notifyRunEnd } from './notify-run.ts';
import { searchAttributesFromOutputs } from './output-attributes.ts';
import type { PipelineProgressEvent } from '../common/pipeline-progress-reducer.ts';
import { recordRunProgress } from './run-progress.ts';
import { runSweepTrial } from './run-sweep-trial.ts';
import { Slots } from './slots.ts';
import { foreachItemWork, runStepGroup, settleWork, type ForeachChunk, type GroupItemResult, type StepsGroup } from './step-group.ts';
import { stepActivityOptions } from './step-options.ts';
import { startRunTracking, type RunTracker } from './track-run.ts';
import { runStepWork, type StepWorkRequest, type StepWorkResult } from './step-work.ts';
import { fanIn, runPool, type TrialResult } from './sweep.ts';

interface StepResult {
  /** The step's `with:` after references were resolved. */
  inputs: Record<string, unknown>;
  outputs: StepOutputs;
  cached: boolean;
  cacheKey?: string;
  /** The earlier run whose recorded outputs were reused (`mlp rerun`). */
  reusedFrom?: string;
}

/** Start-to-close timeout of a sweep trial's cache activities. */
const TRIAL_CACHE_TIMEOUT = '1 minute';

/**
 * At most `maxParallel` leaves (a step's work, a trial, a foreach item, a child workflow) at
 * once, the rest waiting in order. Asked only when something would wait, so runs that never had
 * more ready than the bound (all recorded before it) replay exactly as they ran.
 */
export const BOUNDED_PARALLELISM_PATCH = 'bounded-parallelism';

/** Wide fan-outs (many steps with the same needs) run as `runStepGroup` children; asked only when a pipeline has one. */
export const STEP_GROUPS_PATCH = 'step-groups';

/** Thrown by a failed foreach step when fewer items succeeded than it needs. */
export const FOREACH_FAILED_ERROR = 'ForeachFailedError';

/** A step of a group failed: carries which one, so the run names the step, not the group. */
class GroupStepFailure extends Error {
  constructor(
    readonly stepId: string,
    override readonly cause: unknown,
  ) {
    super(`step "${stepId}" failed`);
  }
}

/**
 * Runs a resolved pipeline as a DAG: each step starts as soon as its `needs` succeeded, as one
 * activity on its queue. The first failed step cancels the running ones and fails the run with
 * its id in the message. Returns every step's outputs by step id. What happens is reported as
 * progress events (common/pipeline-progress-reducer.ts); the recorder turns them into the query's
 * answer, the UI's details and the status search attribute.
 */
export async function runPipeline(
  spec: ResolvedPipeline,
  options: RunPipelineOptions = {},
): Promise<Record<string, StepOutputs>> {
  const { taskQueuePrefix, reuse, refresh } = compileRunPipelineOptions(options);
  const { workflowId } = workflowInfo();
  const steps = new Map<string, ResolvedStep>(spec.steps.map((step) => [step.id, step]));
  const outputs: Record<string, StepOutputs> = {};
  /** Steps that took an earlier run's outputs (`mlp rerun`): their dependents may take theirs too. */
  const reused = new Set<string>();
  // Workflow time: deterministic, the same on every replay.
  const now = (): string => new Date().toISOString();

  const slots = new Slots(spec.maxParallel ?? DEFAULT_MAX_PARALLEL, () => patched(BOUNDED_PARALLELISM_PATCH));

  upsertMemo({ specHash: spec.specHash, pipeline: spec.name });
  upsertSearchAttributes([{ key: PIPELINE_SEARCH_ATTRIBUTES.PipelineName, value: spec.name }]);
  const progress = recordRunProgress({ pipeline: spec.name, specHash: spec.specHash, steps: spec.steps, at: now() });
  // After the run's end is recorded: `notify:` targets hear of it; never changes how the run ends.
  const notify = (): Promise<void> => notifyRunEnd(spec.notify, progress.current(), taskQueuePrefix, (event) => progress.record(event));
  // `tracking.mlflow`: no command at all for runs without it (track-run.ts).
  let tracker: RunTracker;
  try {
    tracker = await startRunTracking(spec, taskQueuePrefix, (event) => progress.record(event));
  } catch (error) {
    // `required: true` and no tracking server: the run fails before any step, naming the server.
    progress.record({ type: 'runEnded', state: 'failed', at: now() });
    await notify();
    throw error;
  }

  // Steps that skip the cache lookup (`mlp run --refresh`), with everything downstream of them.
  let refreshed: Set<string>;
  try {
    topologicalOrder(spec.steps);
    refreshed = withDownstream(spec.steps, refresh);
  } catch (error) {
    progress.record({ type: 'runEnded', state: 'failed', at: now() });
    await tracker.runEnded('FAILED');
    await notify();
    if (error instanceof DagShapeError) throw specFailure(`Invalid pipeline "${spec.name}": ${error.message}`);
    throw error;
  }

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
    // A sweep or foreach step only waits for its trials or items: they hold the slots.
    const leaf = step.sweep === undefined && step.foreach === undefined;
    return leaf ? slots.run(1, () => runReadyStep(step)) : runReadyStep(step);
  };

  const runReadyStep = async (step: ResolvedStep): Promise<StepOutputs> => {
    const { id } = step;
    progress.record({ type: 'stepStarted', stepId: id, at: now() });
    try {
      const result = await executeStep(step);
      outputs[id] = result.outputs;
      if (result.reusedFrom !== undefined) reused.add(id);
      progress.record({
        type: 'stepSucceeded',
        stepId: id,
        at: now(),
        cached: result.cached,
        outputs: result.outputs,
        ...(result.cacheKey === undefined ? {} : { cacheKey: result.cacheKey }),
        ...(result.reusedFrom === undefined ? {} : { reusedFrom: result.reusedFrom }),
      });
      tracker.stepEnded(step, result.outputs);
      const attributes = searchAttributesFromOutputs(step.uses, result.inputs, result.outputs);
      if (attributes.length > 0) upsertSearchAttributes(attributes);
      return result.outputs;
    } catch (error) {
      progress.record(isCancellation(error) ? { type: 'stepCancelled', stepId: id, at: now() } : { type: 'stepFailed', stepId: id, at: now(), error: errorMessage(error) });
      throw error;
    }
  };

  const executeStep = async (step: ResolvedStep): Promise<StepResult> => {
    if (!isStepKindName(step.uses)) throw specFailure(`Unknown step kind "${step.uses}" in step "${step.id}"`);
    let inputs: Record<string, unknown>;
    let activityOptions: ActivityOptions;
    try {
      // A sweep's `${{ matrix.* }}` stay until each trial's inputs are made.
      const resolved = resolveStepOutputs(step.with, outputs, { keepMatrix: step.sweep !== undefined, keepItem: step.foreach !== undefined });
      if (typeof resolved !== 'object' || resolved === null || Array.isArray(resolved)) {
        throw new Error('inputs are not an object');
      }
      inputs = Object.fromEntries(Object.entries(resolved));
      activityOptions = stepActivityOptions(step, taskQueuePrefix);
    } catch (error) {
      throw specFailure(`Cannot prepare step "${step.id}": ${errorMessage(error)}`);
    }
    const recorded = reuse?.steps[step.id];
    // Recorded outputs were computed from the recorded upstream outputs: once one of those ran
    // again (its artifact was gone), the step's inputs may differ, so it runs again too.
    const ranAgain = step.needs.find((need) => !reused.has(need));
    if (reuse !== undefined && recorded !== undefined && ranAgain !== undefined) {
      progress.record({ type: 'reuseMiss', stepId: step.id, reason: `upstream step "${ranAgain}" ran again` });
    } else if (reuse !== undefined && recorded !== undefined) {
      const check = await reuseCheck(step.id).verifyReusedOutputs({ stepId: step.id, uses: step.uses, from: reuse.run, outputs: recorded });
      if (check.reusable) {
        log.info('Step reused', { stepId: step.id, from: reuse.run });
        return { inputs, outputs: check.outputs, cached: false, reusedFrom: reuse.run };
      }
      progress.record({ type: 'reuseMiss', stepId: step.id, reason: check.reason });
      log.warn('Step not reused, running it again', { stepId: step.id, from: reuse.run, reason: check.reason });
    }
    if (step.sweep !== undefined) {
      const swept = await runSweepStep(step, step.uses, step.sweep, inputs, activityOptions);
      return { inputs, outputs: swept, cached: false };
    }
    if (step.foreach !== undefined) {
      const fanned = await runForeachStep(step, step.uses, step.foreach, inputs, activityOptions);
      return { inputs, outputs: fanned, cached: false };
    }
    const work = await runStepWork({
      step: { ...step, uses: step.uses },
      inputs,
      key: step.id,
      activityOptions,
      context: { pipeline: spec.name, workflowId, stepId: step.id, runPrefix: stepRunPrefix(workflowId, step.id), specHash: spec.specHash, ...tracker.stepContext() },
      taskQueuePrefix,
      refresh: refreshed.has(step.id),
      onCacheMiss: (reason) => progress.record({ type: 'cacheMiss', stepId: step.id, reason }),
    });
    return { inputs, ...work };
  };

  /**
   * A sweep: every trial through the cache and the step's activity (or, past the threshold, as a
   * `runSweepTrial` child workflow each), at most `maxParallel` at once, then the fan-in. A failed
   * trial does not stop the others; the policy is applied once all settled.
   */
  const runSweepStep = async (
    step: ResolvedStep,
    uses: StepKindName,
    sweep: ResolvedSweep,
    template: Record<string, unknown>,
    activityOptions: ActivityOptions,
  ): Promise<StepOutputs> => {
    const kind = findStepKind(uses);
    if (kind === undefined) throw specFailure(`Unknown step kind "${uses}" in step "${step.id}"`);
    progress.record({ type: 'trialsPlanned', stepId: step.id, trials: sweep.trials });
    const asChildren = sweep.trials.length > SWEEP_CHILD_WORKFLOW_THRESHOLD;
    let cancellation: unknown;
    const runTrial = async ({ index, matrix }: ResolvedSweep['trials'][number]): Promise<TrialResult> => {
      const id = trialId(step.id, index);
      let inputs: Record<string, unknown>;
      try {
        const resolved = resolveMatrix(template, matrix);
        if (typeof resolved !== 'object' || resolved === null || Array.isArray(resolved)) throw new Error('inputs are not an object');
        inputs = Object.fromEntries(Object.entries(resolved));
      } catch (error) {
        throw specFailure(`Cannot prepare trial ${id}: ${errorMessage(error)}`);
      }
      const summary = `${id} ${formatTrialMatrix(matrix)} (${uses})`;
      const context: StepContext = {
        pipeline: spec.name,
        workflowId,
        stepId: step.id,
        runPrefix: trialRunPrefix(workflowId, step.id, index),
        specHash: spec.specHash,
        ...tracker.stepContext({ index, matrix }),
      };
      const request: StepWorkRequest = {
        step: { id: step.id, uses, queue: step.queue, cache: step.cache },
        inputs,
        key: id,
        activityOptions: { ...activityOptions, activityId: id, summary },
        context,
        taskQueuePrefix,
        refresh: refreshed.has(step.id),
        // A trial's cache work hashes manifests and one model: seconds. A short limit keeps a
        // worker crash during it from holding the sweep for the steps' 10 minutes.
        cacheTimeout: TRIAL_CACHE_TIMEOUT,
      };
      progress.record({ type: 'trialStarted', stepId: step.id, index, matrix, at: now() });
      log.info('Trial started', { stepId: step.id, trial: index, matrix, child: asChildren });
      try {
        const work: StepWorkResult = asChildren
          ? await executeChild(runSweepTrial, {
              args: [request],
              workflowId: `${workflowId}/${id}`,
              staticSummary: summary,
              staticDetails: `Trial ${index} of sweep step \`${step.id}\` in pipeline run \`${workflowId}\`: ${formatTrialMatrix(matrix)}`,
            })
          : await runStepWork({ ...request, onCacheMiss: (reason) => progress.record({ type: 'cacheMiss', stepId: step.id, trial: index, reason }) });
        progress.record({
          type: 'trialEnded',
          stepId: step.id,
          index,
          state: work.cached ? 'cached' : 'succeeded',
          at: now(),
          ...(work.cacheKey === undefined ? {} : { cacheKey: work.cacheKey }),
        });
        return { outputs: work.outputs, cached: work.cached, ...(work.cacheKey === undefined ? {} : { cacheKey: work.cacheKey }) };
      } catch (error) {
        const cancelled = isCancellation(error);
        if (cancelled) cancellation ??= error;
        progress.record({ type: 'trialEnded', stepId: step.id, index, state: cancelled ? 'cancelled' : 'failed', at: now(), ...(cancelled ? {} : { error: errorMessage(error) }) });
        log.warn('Trial failed', { stepId: step.id, trial: index, error: errorMessage(error) });
        return { cached: false, error: errorMessage(error), cancelled };
      }
    };
    const settled = await runPool(sweep.trials, sweep.maxParallel, (trial) => slots.run(1, () => runTrial(trial)));
    const results = settled.map((result): TrialResult => (result.ok ? result.value : { cached: false, error: errorMessage(result.error) }));
    // The step was cancelled (a sibling failed): the run reports that, not a sweep failure.
    if (cancellation !== undefined && CancellationScope.current().consideredCancelled) throw cancellation;
    const { outputs: swept, trials: records } = fanIn(step.id, kind, sweep, results);
    for (const record of records) {
      progress.record({ type: 'trialRecorded', stepId: step.id, index: record.index, selected: record.selected, metric: record.metric, error: record.error });
    }
    const winner = records.find((record) => record.selected);
    if (winner !== undefined) log.info('Sweep trial selected', { stepId: step.id, trial: winner.index, metric: winner.metric, matrix: winner.matrix });
    return swept;
  };

  /**
   * A foreach step: the list from an upstream step's outputs, one unit of work per item (past
   * FOREACH_CHILD_THRESHOLD items, in `runStepGroup` children of STEP_GROUP_SIZE items), at most
   * `maxParallel` at once; every item runs whatever the others do, then the policy is applied.
   */
  const runForeachStep = async (
    step: ResolvedStep,
    uses: StepKindName,
    foreach: ResolvedForeach,
    template: Record<string, unknown>,
    activityOptions: ActivityOptions,
  ): Promise<StepOutputs> => {
    let list: unknown;
    try {
      list = resolveStepOutputs(foreach.items, outputs);
    } catch (error) {
      throw specFailure(`Cannot resolve the foreach list of step "${step.id}": ${errorMessage(error)}`);
    }
    if (!Array.isArray(list)) throw specFailure(`foreach of step "${step.id}": ${foreach.items} is ${list === null ? 'null' : `a ${typeof list}`}, not a list`);
    if (list.length > MAX_FOREACH_ITEMS) {
      throw specFailure(
        `foreach of step "${step.id}": ${foreach.items} has ${list.length} items, more than the ${MAX_FOREACH_ITEMS} one foreach step may run: split the list upstream (shards) or use several foreach steps`,
      );
    }
    const items: unknown[] = list;
    const chunkOf = (firstIndex: number, slice: unknown[]): ForeachChunk => ({
      step: { id: step.id, uses, queue: step.queue, cache: step.cache },
      template,
      activityOptions,
      context: { pipeline: spec.name, workflowId, stepId: step.id, specHash: spec.specHash },
      taskQueuePrefix,
      refresh: refreshed.has(step.id),
      cacheTimeout: TRIAL_CACHE_TIMEOUT,
      firstIndex,
      items: slice,
    });
    const maxParallel = Math.min(foreach.maxParallel, slots.limit);
    let results: GroupItemResult[];
    if (items.length <= FOREACH_CHILD_THRESHOLD) {
      const chunk = chunkOf(0, items);
      const settled = await runPool(items, maxParallel, (_item, offset) => slots.run(1, () => settleWork(() => foreachItemWork(chunk, offset))));
      results = settled.map((result): GroupItemResult => (result.ok ? result.value : { status: 'failed', error: errorMessage(result.error) }));
    } else {
      const chunks: ForeachChunk[] = [];
      for (let start = 0; start < items.length; start += STEP_GROUP_SIZE) chunks.push(chunkOf(start, items.slice(start, start + STEP_GROUP_SIZE)));
      const parallel = childParallelism(maxParallel, STEP_GROUP_SIZE, Math.min(CONCURRENT_GROUPS, chunks.length));
      const settled = await runPool(chunks, Math.max(1, Math.floor(maxParallel / parallel)), (chunk) =>
        slots.run(parallel, () =>
          executeChild(runStepGroup, {
            args: [{ parallel, stopOnFailure: false, foreach: chunk }],
            workflowId: `${workflowId}/${step.id}[${chunk.firstIndex}-${chunk.firstIndex + chunk.items.length - 1}]`,
            staticSummary: `${step.id} items ${chunk.firstIndex}-${chunk.firstIndex + chunk.items.length - 1} (${uses})`,
          }),
        ),
      );
      results = settled.flatMap((result, index): GroupItemResult[] => {
        if (result.ok) return result.value;
        const failed: GroupItemResult = isCancellation(result.error) ? { status: 'cancelled' } : { status: 'failed', error: errorMessage(result.error) };
        return (chunks[index]?.items ?? []).map(() => failed);
      });
    }
    if (CancellationScope.current().consideredCancelled) throw new CancelledFailure(`foreach step "${step.id}" cancelled`);
    const records = results.map((result) =>
      result.status === 'succeeded' ? { status: result.status, outputs: result.outputs } : result.status === 'failed' ? { status: result.status, error: result.error } : { status: result.status },
    );
    const succeeded = records.filter((record) => record.status === 'succeeded').length;
    const needed = foreach.minSuccess ?? items.length;
    log.info('Foreach step settled', { stepId: step.id, items: items.length, succeeded });
    if (succeeded < needed) {
      const failures = records.flatMap((record, index) => (record.status === 'succeeded' ? [] : [{ index, record }]));
      const reasons = failures.slice(0, 5).map(({ index, record }) => `#${index}: ${'error' in record ? record.error : record.status}`);
      throw ApplicationFailure.create({
        type: FOREACH_FAILED_ERROR,
        nonRetryable: true,
        message:
          `${failures.length} of ${items.length} items of foreach step "${step.id}" failed, ${succeeded} succeeded (needs ${needed}): ` +
          `${reasons.join('; ')}${failures.length > reasons.length ? `; and ${failures.length - reasons.length} more` : ''}`,
      });
    }
    return { items: records };
  };

  /**
   * A group of steps that share their needs, as one `runStepGroup` child (holding as many slots
   * as it runs steps at once). Each step's progress is recorded as if it ran here; the first
   * failed step fails the group, named as itself.
   */
  const runGroup = async (unit: StepUnit): Promise<void> => {
    const members = unit.steps.flatMap((id) => steps.get(id) ?? []);
    const group: StepsGroup = { context: { pipeline: spec.name, workflowId, specHash: spec.specHash }, taskQueuePrefix, optionSets: [], steps: [] };
    const optionIndex = new Map<string, number>();
    const inputsById = new Map<string, Record<string, unknown>>();
    for (const step of members) {
      try {
        if (!isStepKindName(step.uses)) throw new Error(`unknown step kind "${step.uses}"`);
        const resolved = resolveStepOutputs(step.with, outputs);
        if (typeof resolved !== 'object' || resolved === null || Array.isArray(resolved)) throw new Error('inputs are not an object');
        const inputs = Object.fromEntries(Object.entries(resolved));
        inputsById.set(step.id, inputs);
        // The step's own id and summary are added back by the child.
        const { activityId: _id, summary: _summary, ...options } = stepActivityOptions(step, taskQueuePrefix);
        const key = JSON.stringify(options);
        const known = optionIndex.get(key);
        const index = known ?? group.optionSets.push(options) - 1;
        optionIndex.set(key, index);
        group.steps.push({ step: { id: step.id, uses: step.uses, queue: step.queue, cache: step.cache }, inputs, options: index, refresh: refreshed.has(step.id) });
      } catch (error) {
        progress.record({ type: 'stepFailed', stepId: step.id, at: now(), error: errorMessage(error) });
        throw new GroupStepFailure(step.id, specFailure(`Cannot prepare step "${step.id}": ${errorMessage(error)}`));
      }
    }
    const parallel = childParallelism(slots.limit, group.steps.length, Math.min(CONCURRENT_GROUPS, unit.siblings));
    let results: GroupItemResult[];
    try {
      results = await slots.run(parallel, () => {
        progress.recordAll(members.map((step): PipelineProgressEvent => ({ type: 'stepStarted', stepId: step.id, at: now() })));
        return executeChild(runStepGroup, {
          args: [{ parallel, stopOnFailure: true, steps: group }],
          workflowId: `${workflowId}/${unit.id}`,
          staticSummary: `${members.length} steps from ${members[0]?.id ?? ''}`,
        });
      });
    } catch (error) {
      const cancelled = isCancellation(error);
      progress.recordAll(members.map((step): PipelineProgressEvent => (cancelled ? { type: 'stepCancelled', stepId: step.id, at: now() } : { type: 'stepFailed', stepId: step.id, at: now(), error: errorMessage(error) })));
      throw new GroupStepFailure(members[0]?.id ?? unit.id, error);
    }
    const events: PipelineProgressEvent[] = [];
    let failure: GroupStepFailure | undefined;
    members.forEach((step, index) => {
      const result = results[index] ?? { status: 'skipped' };
      if (result.status === 'succeeded') {
        outputs[step.id] = result.outputs;
        events.push({ type: 'stepSucceeded', stepId: step.id, at: now(), cached: result.cached, outputs: result.outputs, ...(result.cacheKey === undefined ? {} : { cacheKey: result.cacheKey }) });
        const attributes = searchAttributesFromOutputs(step.uses, inputsById.get(step.id) ?? {}, result.outputs);
        if (attributes.length > 0) upsertSearchAttributes(attributes);
      } else if (result.status === 'failed') {
        events.push({ type: 'stepFailed', stepId: step.id, at: now(), error: result.error });
        // The child's message starts with the type (errorMessage): the run's message adds it again.
        const message = result.type !== undefined && result.error.startsWith(`${result.type}: `) ? result.error.slice(result.type.length + 2) : result.error;
        failure ??= new GroupStepFailure(step.id, ApplicationFailure.create({ type: result.type ?? 'StepFailedError', message, nonRetryable: true }));
      } else {
        events.push({ type: 'stepCancelled', stepId: step.id, at: now() });
      }
    });
    progress.recordAll(events);
    if (failure !== undefined) throw failure;
  };

  // Wide fan-outs run in groups; `mlp rerun` checks each step's earlier outputs here, one by one.
  const planned = planStepUnits(spec.steps);
  const grouping = reuse === undefined && planned.some((unit) => unit.group) && patched(STEP_GROUPS_PATCH);
  const units: StepUnit[] = grouping ? planned : spec.steps.map((step) => ({ id: step.id, steps: [step.id], needs: step.needs, group: false, siblings: 1 }));
  const unitsById = new Map(units.map((unit) => [unit.id, unit]));
  const runUnit = async (id: string): Promise<unknown> => {
    const unit = unitsById.get(id);
    return unit?.group === true ? runGroup(unit) : runStep(id);
  };

  // Steps run in their own scope so the first failure can cancel the siblings still running.
  const scope = new CancellationScope();
  const run = await scope.run(() => runDag(units, runUnit, () => scope.cancel()));
  for (const id of run.notStarted.flatMap((unit) => unitsById.get(unit)?.steps ?? [unit])) progress.record({ type: 'stepCancelled', stepId: id });

  if (run.firstFailure === undefined) {
    try {
      await tracker.runEnded('FINISHED');
    } catch (error) {
      // Only under `required: true`: a step's tracking failed, so the run does.
      progress.record({ type: 'runEnded', state: 'failed', at: now() });
      await notify();
      throw error;
    }
    progress.record({ type: 'runEnded', state: 'succeeded', at: now() });
    await notify();
    return outputs;
  }
  const failed = run.firstFailure.error instanceof GroupStepFailure ? { id: run.firstFailure.error.stepId, error: run.firstFailure.error.cause } : run.firstFailure;
  const { id, error } = failed;
  if (isCancellation(error) && CancellationScope.current().consideredCancelled) {
    progress.record({ type: 'runEnded', state: 'cancelled', at: now() });
    await tracker.runEnded('KILLED');
    throw error;
  }
  progress.record({ type: 'runEnded', state: 'failed', at: now(), failedStep: id });
  await tracker.runEnded('FAILED');
  await notify();
  throw ApplicationFailure.create({
    type: 'StepFailedError',
    message: `Step "${id}" failed: ${errorMessage(error)}`,
    nonRetryable: true,
    details: [{ stepId: id }],
    ...(error instanceof TemporalFailure ? { cause: error } : {}),
  });
}
