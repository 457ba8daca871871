import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { z } from 'zod';
import { PipelineError } from '../../common/errors.ts';
import { parseNotificationActivityId } from '../../common/notifications.ts';
import { trackingActivitySubject } from '../../common/tracking.ts';
import type { PipelineProgress, RunState, StepProgress } from '../../common/pipeline-progress.ts';
import { reducePipelineProgress, startPipelineProgress, type PipelineProgressEvent } from '../../common/pipeline-progress-reducer.ts';
import { trialId, type TrialMatrix } from '../../common/sweep.ts';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import type { RunPipelineOptions } from '../../common/run-options.ts';
import type { StepOutputs } from '../../common/step-activities.ts';
import { parseStepActivityId, type StepActivityRef } from '../../common/step-activity-ids.ts';
import type { PipelineProgressView } from './progress.ts';
import { runPipelineArgsSchema } from './recorded-spec.ts';
import { expandWorkflowInput } from '../../common/workflow-input.ts';

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

/** What a tracking activity answers (common/tracking.ts TrackingStarted). */
const trackingAnswerSchema = z.object({
  warning: z.string().optional(),
  tracking: z.object({ experimentId: z.string(), runId: z.string() }).loose().optional(),
});

function firstPayload(payloads: Payloads): unknown {
  const payload = payloads?.payloads?.[0];
  return payload === undefined ? undefined : defaultPayloadConverter.fromPayload(payload);
}

/** What a `runStepGroup` child returns: one result per step (workflows/step-group.ts). */
const groupResultsSchema = z.array(
  z.looseObject({ status: z.string(), outputs: z.record(z.string(), z.unknown()).optional(), cached: z.boolean().optional(), error: z.string().optional() }),
);

/** The step ids of a `runStepGroup` child's input when it runs a group of steps (not foreach items), else undefined. */
function groupSteps(input: Payloads): string[] | undefined {
  const parsed = z.object({ steps: z.object({ steps: z.array(z.object({ step: z.object({ id: z.string() }) })) }) }).safeParse(firstPayload(input));
  return parsed.success ? parsed.data.steps.steps.map((entry) => entry.step.id) : undefined;
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
  const [recorded, options] = parsed.data;
  // The resolved spec the run was submitted with (its input leaves out the built-in retry types).
  const spec = expandWorkflowInput(recorded);
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

/** The run state a workflow-closing event ends in; terminated and timed out count as failed. */
function closedRunState(event: HistoryEvent): Exclude<RunState, 'running'> | undefined {
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

/** Why an activity attempt closed without a result: its failure, or its timeout. */
function activityFailure(event: HistoryEvent): string {
  return event.activityTaskFailedEventAttributes
    ? failureText(event.activityTaskFailedEventAttributes.failure)
    : `timed out: ${failureText(event.activityTaskTimedOutEventAttributes?.failure)}`;
}

/** What a `cache-lookup` activity returned: the entry's outputs on a hit, the reason on a stale entry. */
function cacheLookup(result: unknown): { hit?: StepOutputs; staleReason?: string } {
  const verified = verifiedLookupSchema.safeParse(result);
  if (!verified.success) {
    const legacy = cacheHitSchema.safeParse(result);
    return legacy.success && legacy.data !== null ? { hit: legacy.data.outputs } : {};
  }
  if (verified.data.status === 'hit') return { hit: verified.data.entry.outputs };
  if (verified.data.status === 'stale') return { staleReason: `cache entry of run ${verified.data.from} not used: ${verified.data.reason}` };
  return {};
}

/** Attempt numbers of the steps' own finished activities by step id (the workflow cannot see attempts). */
export function finishedAttempts(history: History): Map<string, number> {
  const stepByScheduledEvent = new Map<string, string>();
  const attempts = new Map<string, number>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    const activity = scheduled?.activityId ? parseStepActivityId(scheduled.activityId) : undefined;
    // A sweep's trials have attempts of their own; the step's attempt is its own activity's.
    if (activity !== undefined && activity.operation === undefined && activity.trial === undefined) stepByScheduledEvent.set(String(event.eventId), activity.stepId);
    const started = event.activityTaskStartedEventAttributes;
    if (started?.attempt) {
      const stepId = stepByScheduledEvent.get(String(started.scheduledEventId));
      if (stepId !== undefined) attempts.set(stepId, started.attempt);
    }
  }
  return attempts;
}

/**
 * Folds a run's history through the progress reducer (common/pipeline-progress-reducer.ts):
 * each history event becomes the progress events it stands for. Activities are matched to steps
 * and trials by activity id (common/step-activity-ids.ts), a large sweep's trials by child
 * workflow id. The history cannot tell a few things the workflow knew; they are inferred:
 * - a step or trial starts with its first activity or child workflow;
 * - a step `mlp rerun` meant to reuse that starts without a reuse check saw an upstream step
 *   run again (the workflow decides that without an activity);
 * - a sweep step has no activity of its own: it ends with the run, its trials' metrics and the
 *   winner come from the run's result;
 * - when the run closed, a step or trial whose own work never started was cancelled.
 */
function rebuildProgress({ spec, options }: RecordedStart, events: readonly HistoryEvent[], workflowId: string): PipelineProgress {
  const startedAt = events[0] === undefined ? undefined : eventTime(events[0]);
  let progress = startPipelineProgress({ pipeline: spec.name, specHash: spec.specHash, steps: spec.steps, at: startedAt ?? '' });
  const apply = (event: PipelineProgressEvent): void => {
    progress = reducePipelineProgress(progress, event);
  };
  const stepOf = (stepId: string): StepProgress | undefined => progress.steps.find((step) => step.id === stepId);
  const specSteps = new Map(spec.steps.map((step) => [step.id, step]));
  const matrixOf = new Map(spec.steps.map((step) => [step.id, sweepTrials(step)]));
  const activityByEvent = new Map<string, StepActivityRef>();
  /** `notify:` index by the scheduled event of its notification activity. */
  const notificationByEvent = new Map<string, number>();
  /** Tracking activities (`mlflow/…`) by scheduled event id: what their warnings are about. */
  const trackingByEvent = new Map<string, string>();
  const childByEvent = new Map<string, StepActivityRef>();
  /** `runStepGroup` children of a wide fan-out: their steps, in the order of the group's results. */
  const groupByEvent = new Map<string, string[]>();
  /** Steps and trials (`<step>#<n>`) started, and those whose own activity or child workflow was scheduled. */
  const started = new Set<string>();
  const ownWorkScheduled = new Set<string>();

  const scheduled = (ref: StepActivityRef, at: string, ownWork: boolean): void => {
    const { stepId, trial } = ref;
    if (!started.has(stepId)) {
      started.add(stepId);
      apply({ type: 'stepStarted', stepId, at });
      const upstream = ref.operation === 'reuse-check' ? undefined : specSteps.get(stepId)?.needs.find((need) => stepOf(need)?.state !== 'reused');
      if (options.reuse?.steps[stepId] !== undefined && upstream !== undefined) apply({ type: 'reuseMiss', stepId, reason: `upstream step "${upstream}" ran again` });
    }
    const key = trial === undefined ? stepId : trialId(stepId, trial);
    if (trial !== undefined && !started.has(key)) {
      started.add(key);
      apply({ type: 'trialStarted', stepId, index: trial, matrix: matrixOf.get(stepId)?.get(trial) ?? {}, at });
    }
    if (ownWork) ownWorkScheduled.add(key);
  };

  const activityClosed = (ref: StepActivityRef, event: HistoryEvent, at: string): void => {
    const { stepId, trial } = ref;
    const completed = event.activityTaskCompletedEventAttributes;
    const result = completed ? firstPayload(completed.result) : undefined;
    if (ref.operation === 'reuse-check') {
      const check = reuseCheckSchema.safeParse(result);
      if (check.data?.reusable === true) apply({ type: 'stepSucceeded', stepId, at, cached: false, outputs: check.data.outputs, reusedFrom: check.data.from });
      else if (check.data?.reusable === false) apply({ type: 'reuseMiss', stepId, reason: check.data.reason });
    } else if (ref.operation === 'cache-key') {
      const key = cacheKeySchema.safeParse(result);
      if (key.success) apply({ type: 'cacheKeyComputed', stepId, ...(trial === undefined ? {} : { trial }), cacheKey: key.data });
    } else if (ref.operation === 'cache-lookup' && completed) {
      const { hit, staleReason } = cacheLookup(result);
      if (trial !== undefined) {
        if (hit !== undefined) apply({ type: 'trialEnded', stepId, index: trial, state: 'cached', at });
      } else if (hit !== undefined) {
        apply({ type: 'stepSucceeded', stepId, at, cached: true, outputs: hit });
      } else if (staleReason !== undefined) {
        apply({ type: 'cacheMiss', stepId, reason: staleReason });
      }
    } else if (ref.operation === undefined && trial !== undefined) {
      if (completed) apply({ type: 'trialEnded', stepId, index: trial, state: 'succeeded', at });
      else if (event.activityTaskCanceledEventAttributes) apply({ type: 'trialEnded', stepId, index: trial, state: 'cancelled', at });
      else apply({ type: 'trialEnded', stepId, index: trial, state: 'failed', at, error: activityFailure(event) });
    } else if (ref.operation === undefined) {
      const outputs = z.record(z.string(), z.unknown()).safeParse(result);
      if (completed) apply({ type: 'stepSucceeded', stepId, at, cached: false, ...(outputs.success ? { outputs: outputs.data } : {}) });
      else if (event.activityTaskCanceledEventAttributes) apply({ type: 'stepCancelled', stepId, at });
      else apply({ type: 'stepFailed', stepId, at, error: activityFailure(event) });
    }
  };

  const childClosed = (ref: StepActivityRef & { trial: number }, event: HistoryEvent, at: string): void => {
    const completed = event.childWorkflowExecutionCompletedEventAttributes;
    const result = completed ? childResultSchema.safeParse(firstPayload(completed.result)) : undefined;
    const trial = { type: 'trialEnded', stepId: ref.stepId, index: ref.trial, at } as const;
    if (result?.success === true) {
      apply({ ...trial, state: result.data.cached ? 'cached' : 'succeeded', ...(result.data.cacheKey === undefined ? {} : { cacheKey: result.data.cacheKey }) });
    } else if (event.childWorkflowExecutionCanceledEventAttributes) {
      apply({ ...trial, state: 'cancelled' });
    } else {
      apply({ ...trial, state: 'failed', error: failureText(event.childWorkflowExecutionFailedEventAttributes?.failure) });
    }
  };

  const groupClosed = (stepIds: readonly string[], event: HistoryEvent, at: string): void => {
    const completed = event.childWorkflowExecutionCompletedEventAttributes;
    const results = groupResultsSchema.safeParse(completed ? firstPayload(completed.result) : undefined);
    stepIds.forEach((stepId, index) => {
      const result = results.success ? results.data[index] : undefined;
      if (result?.status === 'succeeded') apply({ type: 'stepSucceeded', stepId, at, cached: result.cached ?? false, ...(result.outputs === undefined ? {} : { outputs: result.outputs }) });
      else if (result?.status === 'failed') apply({ type: 'stepFailed', stepId, at, ...(result.error === undefined ? {} : { error: result.error }) });
      else if (event.childWorkflowExecutionFailedEventAttributes && !results.success) apply({ type: 'stepFailed', stepId, at, error: failureText(event.childWorkflowExecutionFailedEventAttributes.failure) });
      else apply({ type: 'stepCancelled', stepId, at });
    });
  };

  const runClosed = (state: Exclude<RunState, 'running'>, event: HistoryEvent, at: string): void => {
    const completed = event.workflowExecutionCompletedEventAttributes;
    // A completed run's result holds every step's outputs, a sweep's trial records included.
    const outputsByStep = z.record(z.string(), z.record(z.string(), z.unknown())).safeParse(completed ? firstPayload(completed.result) : undefined);
    const outputsOf = (stepId: string): StepOutputs | undefined => (outputsByStep.success ? outputsByStep.data[stepId] : undefined);
    // The steps as the run closed: a snapshot, while the events below replace `progress`.
    for (const step of progress.steps) {
      if (step.trials !== undefined) {
        // Only the winner is marked, as `mlp show` from history always did.
        const records = trialRecordsSchema.safeParse(outputsOf(step.id)?.['trials']);
        for (const record of records.success ? records.data : []) {
          apply({ type: 'trialRecorded', stepId: step.id, index: record.index, ...(record.selected ? { selected: true } : {}), ...(record.metric === undefined ? {} : { metric: record.metric }) });
        }
        for (const trial of step.trials) {
          const cutOff = (trial.state === 'pending' || trial.state === 'running') && !ownWorkScheduled.has(trialId(step.id, trial.index));
          if (cutOff) apply({ type: 'trialEnded', stepId: step.id, index: trial.index, state: 'cancelled' });
        }
        if (step.state !== 'running') continue;
        const outputs = outputsOf(step.id);
        const trialFailed = stepOf(step.id)?.trials?.some((trial) => trial.state === 'failed') === true;
        if (outputs !== undefined) apply({ type: 'stepSucceeded', stepId: step.id, at, cached: false, outputs });
        else if (trialFailed) apply({ type: 'stepFailed', stepId: step.id, at });
        else apply({ type: 'stepCancelled', stepId: step.id, at });
      } else if (step.state === 'pending' || step.state === 'running') {
        // A step of a group or a foreach step ran in child workflows: the run's result has its outputs.
        const outputs = outputsOf(step.id);
        if (outputs !== undefined) apply({ type: 'stepSucceeded', stepId: step.id, at, cached: false, outputs });
        else if (!ownWorkScheduled.has(step.id)) apply({ type: 'stepCancelled', stepId: step.id });
      }
    }
    const failedStep = state === 'failed' ? progress.steps.find((step) => step.state === 'failed')?.id : undefined;
    apply({ type: 'runEnded', state, at, ...(failedStep === undefined ? {} : { failedStep }) });
  };

  /** A tracking activity's answer: where the run is tracked, or the warning it recorded (as the workflow did). */
  const trackingClosed = (subject: string, event: HistoryEvent): void => {
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed === undefined || completed === null) {
      apply({ type: 'trackingWarning', message: `${subject}: ${activityFailure(event)}` });
      return;
    }
    const answer = trackingAnswerSchema.safeParse(firstPayload(completed.result));
    if (!answer.success) return;
    if (answer.data.warning !== undefined) apply({ type: 'trackingWarning', message: `${subject}: ${answer.data.warning}` });
    if (answer.data.tracking !== undefined) apply({ type: 'trackingStarted', experimentId: answer.data.tracking.experimentId, runId: answer.data.tracking.runId });
  };

  for (const event of events) {
    const at = eventTime(event) ?? '';
    const activityScheduled = event.activityTaskScheduledEventAttributes;
    const childStarted = event.startChildWorkflowExecutionInitiatedEventAttributes;
    const grouped = childStarted ? groupSteps(childStarted.input) : undefined;
    const activityClose =
      event.activityTaskCompletedEventAttributes ??
      event.activityTaskFailedEventAttributes ??
      event.activityTaskTimedOutEventAttributes ??
      event.activityTaskCanceledEventAttributes;
    const childClose =
      event.childWorkflowExecutionCompletedEventAttributes ??
      event.childWorkflowExecutionFailedEventAttributes ??
      event.childWorkflowExecutionCanceledEventAttributes ??
      event.childWorkflowExecutionTimedOutEventAttributes ??
      event.childWorkflowExecutionTerminatedEventAttributes;
    const runState = closedRunState(event);
    const notification = activityScheduled?.activityId ? parseNotificationActivityId(activityScheduled.activityId) : undefined;
    const tracking = activityScheduled?.activityId ? trackingActivitySubject(activityScheduled.activityId) : undefined;
    if (tracking !== undefined) {
      trackingByEvent.set(String(event.eventId), tracking);
    } else if (notification !== undefined) {
      notificationByEvent.set(String(event.eventId), notification);
    } else if (activityScheduled?.activityId) {
      const ref = parseStepActivityId(activityScheduled.activityId);
      if (ref === undefined || !specSteps.has(ref.stepId)) continue;
      activityByEvent.set(String(event.eventId), ref);
      scheduled(ref, at, ref.operation === undefined);
    } else if (grouped !== undefined) {
      const ids = grouped.filter((id) => specSteps.has(id));
      groupByEvent.set(String(event.eventId), ids);
      for (const stepId of ids) scheduled({ stepId }, at, true);
    } else if (childStarted) {
      const ref = childTrial(workflowId, childStarted.workflowId);
      if (ref === undefined || !specSteps.has(ref.stepId)) continue;
      childByEvent.set(String(event.eventId), ref);
      scheduled(ref, at, true);
    } else if (activityClose?.scheduledEventId) {
      const ref = activityByEvent.get(String(activityClose.scheduledEventId));
      const index = notificationByEvent.get(String(activityClose.scheduledEventId));
      const subject = trackingByEvent.get(String(activityClose.scheduledEventId));
      if (subject !== undefined) trackingClosed(subject, event);
      else if (ref !== undefined) activityClosed(ref, event, at);
      else if (index !== undefined) {
        const sent = Boolean(event.activityTaskCompletedEventAttributes);
        apply({ type: 'notificationEnded', index, sent, at, ...(sent ? {} : { error: activityFailure(event) }) });
      }
    } else if (childClose?.initiatedEventId && groupByEvent.has(String(childClose.initiatedEventId))) {
      groupClosed(groupByEvent.get(String(childClose.initiatedEventId)) ?? [], event, at);
    } else if (childClose?.initiatedEventId) {
      const ref = childByEvent.get(String(childClose.initiatedEventId));
      if (ref?.trial !== undefined) childClosed({ ...ref, trial: ref.trial }, event, at);
    } else if (runState !== undefined) {
      runClosed(runState, event, at);
    }
  }
  return progress;
}

/**
 * The run's progress rebuilt from its history, in the shape of the progress query, with each
 * step's final attempt (as `mlp show` merges it into a query's answer).
 */
export function progressFromHistory(history: History, workflowId: string): PipelineProgressView {
  const progress = rebuildProgress(recordedStart(history, workflowId), history.events ?? [], workflowId);
  const attempts = finishedAttempts(history);
  return {
    workflowId,
    ...progress,
    steps: progress.steps.map((step) => {
      const attempt = attempts.get(step.id);
      return attempt === undefined ? step : { ...step, attempt };
    }),
  };
}
