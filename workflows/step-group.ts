import { ApplicationFailure, CancellationScope, CancelledFailure, isCancellation, log, type ActivityOptions } from '@temporalio/workflow';
import { resolveItem } from '../common/expressions.ts';
import { itemActivityId, stepActivityId } from '../common/step-activity-ids.ts';
import { itemRunPrefix, stepRunPrefix, type StepContext, type StepOutputs } from '../common/step-activities.ts';
import { errorMessage } from './failures.ts';
import { runStepWork, type StepWorkRequest } from './step-work.ts';
import { runPool } from './sweep.ts';

/**
 * Many small units of work as one child workflow (`runStepGroup`): the steps of a wide fan-out
 * that share their needs, or a chunk of a foreach step's items. Their activities' events live in
 * the child's history; the run's own records only the child's start and its small result, so a
 * run of thousands of steps keeps a history of a few hundred events.
 */

/** A request as a child workflow takes it (a callback does not cross the boundary). */
export type StepWork = Omit<StepWorkRequest, 'onCacheMiss'>;

/** One foreach chunk: the step's template and settings once, and the items it runs. */
export interface ForeachChunk {
  step: StepWork['step'];
  /** The step's `with` with upstream outputs resolved and `${{ item }}` still in place. */
  template: Record<string, unknown>;
  activityOptions: ActivityOptions;
  /** The step's context; each item gets its own `runPrefix`. */
  context: Omit<StepContext, 'runPrefix'>;
  taskQueuePrefix: string;
  refresh: boolean;
  cacheTimeout?: string;
  /** Index in the whole list of `items[0]`. */
  firstIndex: number;
  items: unknown[];
}

/** One step of a group: what differs from step to step, the rest is shared by the group. */
export interface GroupedStep {
  step: StepWork['step'];
  inputs: Record<string, unknown>;
  /** Index of its activity options (less id and summary) in the group's `optionSets`. */
  options: number;
  refresh: boolean;
}

/**
 * Steps of a wide fan-out. Their activity options are nearly always the same: listed once each,
 * which keeps the child's input (recorded in the run's history) near 100 bytes a step.
 */
export interface StepsGroup {
  context: Omit<StepContext, 'runPrefix' | 'stepId'>;
  taskQueuePrefix: string;
  optionSets: ActivityOptions[];
  steps: GroupedStep[];
}

export interface StepGroupInput {
  /** Items running at once in this child. */
  parallel: number;
  /** Stop starting items after the first failure (a DAG's steps fail fast; foreach items all run). */
  stopOnFailure: boolean;
  steps?: StepsGroup;
  foreach?: ForeachChunk;
}

/** Step `offset` of a group as the work of one step. */
export function groupedStepWork(group: StepsGroup, offset: number): StepWork {
  const entry = group.steps[offset];
  if (entry === undefined) throw new Error(`no step ${offset} in the group`);
  const { id, uses } = entry.step;
  return {
    step: entry.step,
    inputs: entry.inputs,
    key: id,
    activityOptions: { ...group.optionSets[entry.options], activityId: stepActivityId(id), summary: `${id} (${uses})` },
    context: { ...group.context, stepId: id, runPrefix: stepRunPrefix(group.context.workflowId, id) },
    taskQueuePrefix: group.taskQueuePrefix,
    refresh: entry.refresh,
  };
}

/** How one item (a step or a foreach item) ended; `skipped` never started (an earlier one failed). */
export type GroupItemResult =
  | { status: 'succeeded'; outputs: StepOutputs; cached: boolean; cacheKey?: string }
  | { status: 'failed'; error: string; type?: string }
  | { status: 'cancelled' }
  | { status: 'skipped' };

/** Item `index` of a foreach chunk as the work of one step. */
export function foreachItemWork(chunk: ForeachChunk, offset: number): StepWork {
  const index = chunk.firstIndex + offset;
  const id = itemActivityId(chunk.step.id, index);
  const resolved = resolveItem(chunk.template, chunk.items[offset]);
  if (typeof resolved !== 'object' || resolved === null || Array.isArray(resolved)) {
    throw ApplicationFailure.create({ type: 'PipelineSpecError', nonRetryable: true, message: `Cannot prepare item ${id}: inputs are not an object` });
  }
  return {
    step: chunk.step,
    inputs: Object.fromEntries(Object.entries(resolved)),
    key: id,
    activityOptions: { ...chunk.activityOptions, activityId: id, summary: `${id} (${chunk.step.uses})` },
    context: { ...chunk.context, runPrefix: itemRunPrefix(chunk.context.workflowId, chunk.step.id, index) },
    taskQueuePrefix: chunk.taskQueuePrefix,
    refresh: chunk.refresh,
    ...(chunk.cacheTimeout === undefined ? {} : { cacheTimeout: chunk.cacheTimeout }),
  };
}

function failureType(error: unknown): string | undefined {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (current instanceof ApplicationFailure && current.type) return current.type;
  }
  return undefined;
}

/** Runs one unit of work; never throws: a failure or cancellation becomes its result. */
export async function settleWork(prepare: () => StepWork): Promise<GroupItemResult> {
  try {
    const work = await runStepWork(prepare());
    return { status: 'succeeded', outputs: work.outputs, cached: work.cached, ...(work.cacheKey === undefined ? {} : { cacheKey: work.cacheKey }) };
  } catch (error) {
    if (isCancellation(error)) return { status: 'cancelled' };
    const type = failureType(error);
    return { status: 'failed', error: errorMessage(error), ...(type === undefined ? {} : { type }) };
  }
}

/** The child workflow: runs the group's steps or the chunk's items, at most `parallel` at once; results in input order. */
export async function runStepGroup(input: StepGroupInput): Promise<GroupItemResult[]> {
  const { foreach } = input;
  const count = foreach?.items.length ?? input.steps?.steps.length ?? 0;
  const prepare = (offset: number): StepWork => {
    if (foreach !== undefined) return foreachItemWork(foreach, offset);
    if (input.steps === undefined) throw new Error('a step group without steps or items');
    return groupedStepWork(input.steps, offset);
  };
  let failed = false;
  const settled = await runPool(
    Array.from({ length: count }, (_, offset) => offset),
    input.parallel,
    async (offset): Promise<GroupItemResult> => {
      if (failed && input.stopOnFailure) return { status: 'skipped' };
      const result = await settleWork(() => prepare(offset));
      if (result.status === 'failed') failed = true;
      return result;
    },
  );
  // Cancelled by the run (a sibling failed, or the run was cancelled): end as cancelled too.
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('step group cancelled');
  const results = settled.map((result): GroupItemResult => (result.ok ? result.value : { status: 'failed', error: errorMessage(result.error) }));
  const failures = results.filter((result) => result.status === 'failed').length;
  if (failures > 0) log.warn('Items of the group failed', { failures, of: results.length });
  return results;
}
