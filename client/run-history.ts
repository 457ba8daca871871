import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { z } from 'zod';
import { PipelineError } from '../common/errors.ts';
import type { RunState, StepState, TrialProgress } from '../common/pipeline-progress.ts';
import type { TrialMatrix } from '../common/sweep.ts';
import type { ResolvedPipeline } from '../common/resolved-pipeline.ts';
import type { RunPipelineOptions } from '../common/run-options.ts';
import type { StepOutputs } from '../common/step-activities.ts';
import { parseStepActivityId, type StepActivityRef } from '../common/step-activity-ids.ts';
import type { PipelineProgressView, StepProgressView } from './progress.ts';
import { runPipelineArgsSchema } from './recorded-spec.ts';

/**
 * What a run's event history tells without asking a worker: the arguments it was started with
 * and, per step, its times, attempts, cache hit, outputs and failure. `mlp show` uses it when no
 * worker answers the progress query; `mlp reproduce` reads the recorded spec from it.
 */

export type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];
type Payloads = { payloads?: Parameters<typeof defaultPayloadConverter.fromPayload>[0][] | null } | null | undefined;

export interface RecordedStart {
  workflowType: string;
  spec: ResolvedPipeline;
  options: RunPipelineOptions;
}

function firstPayload(payloads: Payloads): unknown {
  const payload = payloads?.payloads?.[0];
  return payload === undefined ? undefined : defaultPayloadConverter.fromPayload(payload);
}

function allPayloads(payloads: Payloads): unknown[] {
  return (payloads?.payloads ?? []).map((payload) => defaultPayloadConverter.fromPayload(payload));
}

function eventTime(event: HistoryEvent): string | undefined {
  const time = event.eventTime;
  if (!time?.seconds) return undefined;
  return new Date(Number(String(time.seconds)) * 1000 + Math.floor((time.nanos ?? 0) / 1e6)).toISOString();
}

/** The spec and options a `runPipeline` run was started with (its first event's input). */
export function recordedStart(history: History, workflowId: string): RecordedStart {
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  if (!started) throw new PipelineError(`Reading the start of ${workflowId} failed: its history has no start event`);
  const workflowType = started.workflowType?.name ?? '';
  const parsed = runPipelineArgsSchema.safeParse(allPayloads(started.input));
  if (workflowType !== 'runPipeline' || !parsed.success) {
    const why = parsed.success ? `it is a ${workflowType} workflow` : z.prettifyError(parsed.error);
    throw new PipelineError(`Reading the recorded spec of ${workflowId} failed: not a runPipeline run (${why})`);
  }
  const [spec, options] = parsed.data;
  return { workflowType, spec, options: options ?? {} };
}

const cacheHitSchema = z.object({ outputs: z.record(z.string(), z.unknown()) }).nullable();
/** What `lookupVerifiedCache` returns (runs recorded before it returned a `CacheEntry` or null). */
const verifiedLookupSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('hit'), entry: z.object({ outputs: z.record(z.string(), z.unknown()) }) }),
  z.object({ status: z.literal('miss') }),
  z.object({ status: z.literal('stale'), reason: z.string(), from: z.string() }),
]);
/** `computeCacheKeyParts` returns the key with its parts; `computeCacheKey` the key alone. */
const cacheKeySchema = z.union([z.string(), z.object({ key: z.string() }).transform(({ key }) => key)]);
const reuseCheckSchema = z.discriminatedUnion('reusable', [
  z.object({ reusable: z.literal(true), from: z.string(), outputs: z.record(z.string(), z.unknown()) }),
  z.object({ reusable: z.literal(false), from: z.string(), reason: z.string() }),
]);

interface StepEvents {
  firstScheduledAt?: string;
  endedAt?: string;
  attempt?: number;
  state?: StepState;
  cached: boolean;
  cacheKey?: string;
  reusedFrom?: string;
  reuseMiss?: string;
  cacheMiss?: string;
  outputs?: StepOutputs;
  error?: string;
  /** A sweep's trials, by index, as far as the history tells. */
  trials?: Map<number, TrialProgress>;
}

/** `<workflowId>/<stepId>#<n>`: the child workflow of trial n of a large sweep. */
function childTrial(workflowId: string, childId: string | null | undefined): StepActivityRef | undefined {
  if (!childId?.startsWith(`${workflowId}/`)) return undefined;
  const ref = parseStepActivityId(childId.slice(workflowId.length + 1));
  return ref?.trial === undefined || ref.operation !== undefined ? undefined : ref;
}

const childResultSchema = z.object({ outputs: z.record(z.string(), z.unknown()), cached: z.boolean(), cacheKey: z.string().optional() });

function failureText(failure: { message?: string | null; cause?: unknown; applicationFailureInfo?: { type?: string | null } | null } | null | undefined): string {
  // The activity's own error is the innermost cause; Temporal wraps it in "activity failed".
  let current = failure;
  let text = 'failed';
  while (current) {
    const type = current.applicationFailureInfo?.type;
    if (current.message) text = type ? `${type}: ${current.message}` : current.message;
    const cause: unknown = current.cause;
    current = typeof cause === 'object' && cause !== null ? cause : undefined;
  }
  return text;
}

const trialRecordsSchema = z.array(z.object({ index: z.number(), metric: z.number().optional(), selected: z.boolean() }));
const sweepSchema = z.object({ trials: z.array(z.object({ index: z.number(), matrix: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])) })) });

/** Trial index → matrix values of a recorded sweep step (empty for other steps). */
function sweepTrials(step: { sweep?: unknown }): Map<number, TrialMatrix> {
  const parsed = sweepSchema.safeParse(step.sweep);
  return new Map(parsed.success ? parsed.data.trials.map((trial) => [trial.index, trial.matrix]) : []);
}

/** A trial's own activity or cache bookkeeping closing. */
function trialEvent(trial: TrialProgress, activity: StepActivityRef, event: HistoryEvent, time: string | undefined): void {
  const completed = event.activityTaskCompletedEventAttributes;
  if (activity.operation === 'cache-key' && completed) {
    const key = cacheKeySchema.safeParse(firstPayload(completed.result));
    if (key.success) trial.cacheKey = key.data;
  } else if (activity.operation === 'cache-lookup' && completed) {
    const verified = verifiedLookupSchema.safeParse(firstPayload(completed.result));
    if (verified.success && verified.data.status === 'hit') Object.assign(trial, { state: 'cached', endedAt: time });
  } else if (activity.operation === undefined) {
    trial.endedAt = time;
    if (completed) trial.state = 'succeeded';
    else if (event.activityTaskCanceledEventAttributes) trial.state = 'cancelled';
    else {
      trial.state = 'failed';
      trial.error = event.activityTaskFailedEventAttributes
        ? failureText(event.activityTaskFailedEventAttributes.failure)
        : `timed out: ${failureText(event.activityTaskTimedOutEventAttributes?.failure)}`;
    }
  }
}

/** The run state a workflow-closing event ends in; terminated and timed out count as failed. */
function closedRunState(event: HistoryEvent): RunState | undefined {
  if (event.workflowExecutionCompletedEventAttributes) return 'succeeded';
  if (event.workflowExecutionCanceledEventAttributes) return 'cancelled';
  if (
    event.workflowExecutionFailedEventAttributes ??
    event.workflowExecutionTimedOutEventAttributes ??
    event.workflowExecutionTerminatedEventAttributes
  ) {
    return 'failed';
  }
  return undefined;
}

/**
 * The run's progress rebuilt from its history, in the shape of the progress query. Activities
 * are matched to steps by activity id (common/step-activity-ids.ts): the step's own activity or
 * its cache bookkeeping (a non-null `cache-lookup` result is a hit).
 */
export function progressFromHistory(history: History, workflowId: string): PipelineProgressView {
  const { spec, options } = recordedStart(history, workflowId);
  const events = history.events ?? [];
  const steps = new Map<string, StepEvents>(spec.steps.map((step) => [step.id, { cached: false }]));
  const activityByEvent = new Map<string, StepActivityRef>();
  const childByEvent = new Map<string, StepActivityRef>();
  const matrixOf = new Map(spec.steps.map((step) => [step.id, sweepTrials(step)]));
  const trialOf = (step: StepEvents, index: number, time: string | undefined): TrialProgress => {
    step.trials ??= new Map();
    let trial = step.trials.get(index);
    if (trial === undefined) {
      const stepId = [...steps.entries()].find(([, candidate]) => candidate === step)?.[0] ?? '';
      trial = { index, matrix: matrixOf.get(stepId)?.get(index) ?? {}, state: 'pending', ...(time === undefined ? {} : { startedAt: time }) };
      step.trials.set(index, trial);
    }
    return trial;
  };
  let state: RunState = 'running';
  let endedAt: string | undefined;
  let result: unknown;

  for (const event of events) {
    const time = eventTime(event);
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityId) {
      const activity = parseStepActivityId(scheduled.activityId);
      const step = activity === undefined ? undefined : steps.get(activity.stepId);
      if (activity === undefined || step === undefined) continue;
      activityByEvent.set(String(event.eventId), activity);
      step.firstScheduledAt ??= time;
      if (activity.operation === undefined || activity.trial !== undefined) step.state = 'running';
      if (activity.trial !== undefined) trialOf(step, activity.trial, time);
      if (activity.trial !== undefined && activity.operation === undefined) Object.assign(trialOf(step, activity.trial, time), { state: 'running' });
      continue;
    }
    const childStart = event.startChildWorkflowExecutionInitiatedEventAttributes;
    if (childStart) {
      const ref = childTrial(workflowId, childStart.workflowId);
      const step = ref === undefined ? undefined : steps.get(ref.stepId);
      if (ref?.trial === undefined || step === undefined) continue;
      childByEvent.set(String(event.eventId), ref);
      step.firstScheduledAt ??= time;
      step.state = 'running';
      Object.assign(trialOf(step, ref.trial, time), { state: 'running' });
      continue;
    }
    const childEnd =
      event.childWorkflowExecutionCompletedEventAttributes ??
      event.childWorkflowExecutionFailedEventAttributes ??
      event.childWorkflowExecutionCanceledEventAttributes ??
      event.childWorkflowExecutionTimedOutEventAttributes ??
      event.childWorkflowExecutionTerminatedEventAttributes;
    if (childEnd?.initiatedEventId) {
      const ref = childByEvent.get(String(childEnd.initiatedEventId));
      const step = ref === undefined ? undefined : steps.get(ref.stepId);
      if (ref?.trial === undefined || step === undefined) continue;
      const trial = trialOf(step, ref.trial, time);
      trial.endedAt = time;
      const completed = event.childWorkflowExecutionCompletedEventAttributes;
      const result = completed ? childResultSchema.safeParse(firstPayload(completed.result)) : undefined;
      if (result?.success === true) {
        trial.state = result.data.cached ? 'cached' : 'succeeded';
        if (result.data.cacheKey !== undefined) trial.cacheKey = result.data.cacheKey;
      } else if (event.childWorkflowExecutionCanceledEventAttributes) {
        trial.state = 'cancelled';
      } else {
        trial.state = 'failed';
        trial.error = failureText(event.childWorkflowExecutionFailedEventAttributes?.failure);
      }
      continue;
    }
    const closing =
      event.activityTaskStartedEventAttributes ??
      event.activityTaskCompletedEventAttributes ??
      event.activityTaskFailedEventAttributes ??
      event.activityTaskTimedOutEventAttributes ??
      event.activityTaskCanceledEventAttributes;
    if (closing?.scheduledEventId) {
      const activity = activityByEvent.get(String(closing.scheduledEventId));
      const step = activity === undefined ? undefined : steps.get(activity.stepId);
      if (activity === undefined || step === undefined) continue;
      const started = event.activityTaskStartedEventAttributes;
      if (started) {
        if (activity.operation === undefined && activity.trial === undefined && started.attempt) step.attempt = started.attempt;
        continue;
      }
      const completed = event.activityTaskCompletedEventAttributes;
      if (activity.trial !== undefined) {
        trialEvent(trialOf(step, activity.trial, time), activity, event, time);
        continue;
      }
      if (activity.operation === 'reuse-check' && completed) {
        const check = reuseCheckSchema.safeParse(firstPayload(completed.result));
        const data = check.success ? check.data : undefined;
        if (data?.reusable === true) {
          Object.assign(step, { state: 'reused', reusedFrom: data.from, outputs: data.outputs, endedAt: time });
        } else if (data?.reusable === false) {
          step.reuseMiss = data.reason;
        }
      } else if (activity.operation === 'cache-key' && completed) {
        const key = cacheKeySchema.safeParse(firstPayload(completed.result));
        if (key.success) step.cacheKey = key.data;
      } else if (activity.operation === 'cache-lookup' && completed) {
        const result = firstPayload(completed.result);
        const verified = verifiedLookupSchema.safeParse(result);
        const hit = verified.success ? (verified.data.status === 'hit' ? verified.data.entry : null) : cacheHitSchema.safeParse(result).data;
        if (hit !== null && hit !== undefined) {
          Object.assign(step, { state: 'cached', cached: true, outputs: hit.outputs, endedAt: time });
        }
        if (verified.data?.status === 'stale') step.cacheMiss = `cache entry of run ${verified.data.from} not used: ${verified.data.reason}`;
      } else if (activity.operation === undefined) {
        step.endedAt = time;
        if (completed) {
          const outputs = z.record(z.string(), z.unknown()).safeParse(firstPayload(completed.result));
          step.state = 'succeeded';
          if (outputs.success) step.outputs = outputs.data;
        } else if (event.activityTaskCanceledEventAttributes) {
          step.state = 'cancelled';
        } else {
          step.state = 'failed';
          step.error = event.activityTaskFailedEventAttributes
            ? failureText(event.activityTaskFailedEventAttributes.failure)
            : `timed out: ${failureText(event.activityTaskTimedOutEventAttributes?.failure)}`;
        }
      }
      continue;
    }
    const closedState = closedRunState(event);
    if (closedState !== undefined) {
      state = closedState;
      endedAt = time;
    }
    if (event.workflowExecutionCompletedEventAttributes) result = firstPayload(event.workflowExecutionCompletedEventAttributes.result);
  }

  // A step meant for reuse that ran without a reuse check: the workflow saw an upstream step run
  // again (it decides that without an activity, so the history holds no reason of its own).
  const meantForReuse = options.reuse?.steps ?? {};
  for (const step of spec.steps) {
    const seen = steps.get(step.id);
    if (meantForReuse[step.id] === undefined || seen === undefined || seen.state === 'reused' || seen.reuseMiss !== undefined) continue;
    const upstream = step.needs.find((need) => steps.get(need)?.state !== 'reused');
    if (upstream !== undefined && seen.state !== undefined) seen.reuseMiss = `upstream step "${upstream}" ran again`;
  }

  // A completed run's result holds every step's outputs, cache hits included.
  const outputsByStep = z.record(z.string(), z.record(z.string(), z.unknown())).safeParse(result);
  // A sweep step has no activity of its own: it ended when the run did, with its trials' records in its outputs.
  for (const step of spec.steps) {
    const seen = steps.get(step.id);
    if (seen?.trials === undefined) continue;
    const recorded = trialRecordsSchema.safeParse(outputsByStep.success ? outputsByStep.data[step.id]?.['trials'] : undefined);
    for (const record of recorded.success ? recorded.data : []) {
      const trial = seen.trials.get(record.index);
      if (trial === undefined) continue;
      if (record.metric !== undefined) trial.metric = record.metric;
      if (record.selected) trial.selected = true;
    }
    if (seen.state === 'running' && state !== 'running') {
      seen.state = outputsByStep.success && outputsByStep.data[step.id] !== undefined ? 'succeeded' : [...seen.trials.values()].some((trial) => trial.state === 'failed') ? 'failed' : 'cancelled';
      seen.endedAt ??= endedAt;
    }
  }
  const views: StepProgressView[] = spec.steps.map((step) => {
    const seen = steps.get(step.id) ?? { cached: false };
    const outputs = seen.outputs ?? (outputsByStep.success ? outputsByStep.data[step.id] : undefined);
    const stepState: StepState = seen.state ?? (state === 'running' ? 'pending' : 'cancelled');
    return {
      id: step.id,
      uses: step.uses,
      queue: step.queue,
      state: stepState,
      cached: seen.cached,
      ...(seen.firstScheduledAt === undefined ? {} : { startedAt: seen.firstScheduledAt }),
      ...(seen.endedAt === undefined ? {} : { endedAt: seen.endedAt }),
      ...(seen.cacheKey === undefined ? {} : { cacheKey: seen.cacheKey }),
      ...(seen.reusedFrom === undefined ? {} : { reusedFrom: seen.reusedFrom }),
      ...(seen.reuseMiss === undefined ? {} : { reuseMiss: seen.reuseMiss }),
      ...(seen.cacheMiss === undefined ? {} : { cacheMiss: seen.cacheMiss }),
      ...(outputs === undefined ? {} : { outputs }),
      ...(seen.error === undefined ? {} : { error: seen.error }),
      ...(seen.attempt === undefined ? {} : { attempt: seen.attempt }),
      ...(seen.trials === undefined ? {} : { trials: [...seen.trials.values()].sort((a, b) => a.index - b.index) }),
    };
  });
  const failedStep = views.find((step) => step.state === 'failed')?.id;
  const startedAt = events[0] === undefined ? undefined : eventTime(events[0]);
  return {
    workflowId,
    pipeline: spec.name,
    specHash: spec.specHash,
    state,
    startedAt: startedAt ?? '',
    ...(endedAt === undefined ? {} : { endedAt }),
    ...(state === 'failed' && failedStep !== undefined ? { failedStep } : {}),
    steps: views,
  };
}
