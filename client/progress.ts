import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { PIPELINE_PROGRESS_QUERY, type PipelineProgress, type StepProgress } from '../common/pipeline-progress.ts';

/**
 * A run's progress as the CLI shows it: the workflow's `pipelineProgress` query, plus what only
 * the server knows — a running step's current attempt, last heartbeat details (bytes, images,
 * epoch, loss) and last failure from `describe()`, and each finished step's final attempt from
 * the history.
 */

export interface StepProgressView extends StepProgress {
  /** Current attempt (running) or the attempt that ended the step; absent before it started. */
  attempt?: number;
  /** Last heartbeat details of the running attempt, as the activity sent them. */
  heartbeat?: unknown;
  lastHeartbeatAt?: string;
  /** Failure of the previous attempt while a retry is pending or running. */
  lastFailure?: string;
}

export interface PipelineProgressView extends Omit<PipelineProgress, 'steps'> {
  workflowId: string;
  steps: StepProgressView[];
}

interface ActivityLiveInfo {
  attempt?: number;
  heartbeat?: unknown;
  lastHeartbeatAt?: string;
  lastFailure?: string;
}

/** Attempt numbers of finished activities by activity id (= step id), from the history. */
async function finishedAttempts(handle: WorkflowHandle): Promise<Map<string, number>> {
  const history = await handle.fetchHistory();
  const activityIdByScheduledEvent = new Map<string, string>();
  const attempts = new Map<string, number>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityId) activityIdByScheduledEvent.set(String(event.eventId), scheduled.activityId);
    const started = event.activityTaskStartedEventAttributes;
    if (started?.attempt) {
      const activityId = activityIdByScheduledEvent.get(String(started.scheduledEventId));
      if (activityId !== undefined) attempts.set(activityId, started.attempt);
    }
  }
  return attempts;
}

/** Attempt, heartbeat details and last failure of each running activity, by activity id. */
async function runningActivities(handle: WorkflowHandle): Promise<Map<string, ActivityLiveInfo>> {
  const description = await handle.describe();
  const live = new Map<string, ActivityLiveInfo>();
  for (const pending of description.raw.pendingActivities ?? []) {
    if (!pending.activityId) continue;
    const payload = pending.heartbeatDetails?.payloads?.[0];
    const heartbeatSeconds = pending.lastHeartbeatTime?.seconds;
    live.set(pending.activityId, {
      ...(pending.attempt ? { attempt: pending.attempt } : {}),
      ...(payload ? { heartbeat: defaultPayloadConverter.fromPayload(payload) } : {}),
      ...(heartbeatSeconds ? { lastHeartbeatAt: new Date(Number(heartbeatSeconds) * 1000).toISOString() } : {}),
      ...(pending.lastFailure?.message ? { lastFailure: pending.lastFailure.message } : {}),
    });
  }
  return live;
}

/** Queries a `runPipeline` run and merges in attempts and heartbeat details from the server. */
export async function getPipelineProgress(handle: WorkflowHandle): Promise<PipelineProgressView> {
  const [progress, live, attempts] = await Promise.all([
    handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY),
    runningActivities(handle),
    finishedAttempts(handle),
  ]);
  return {
    ...progress,
    workflowId: handle.workflowId,
    steps: progress.steps.map((step) => {
      const running = live.get(step.id);
      const attempt = running?.attempt ?? attempts.get(step.id);
      return { ...step, ...running, ...(attempt === undefined ? {} : { attempt }) };
    }),
  };
}
