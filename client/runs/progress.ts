import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { PIPELINE_PROGRESS_QUERY, type PipelineProgress, type StepProgress } from '../../common/pipeline-progress.ts';
import { parseStepActivityId } from '../../common/step-activity-ids.ts';
import { finishedAttempts, type History } from './run-history.ts';

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

/** Attempt, heartbeat details and last failure of each step's running activity, by step id. */
async function runningActivities(handle: WorkflowHandle): Promise<Map<string, ActivityLiveInfo>> {
  const description = await handle.describe();
  const live = new Map<string, ActivityLiveInfo>();
  for (const pending of description.raw.pendingActivities ?? []) {
    const activity = pending.activityId ? parseStepActivityId(pending.activityId) : undefined;
    if (activity === undefined || activity.operation !== undefined || activity.trial !== undefined) continue;
    const payload = pending.heartbeatDetails?.payloads?.[0];
    const heartbeatSeconds = pending.lastHeartbeatTime?.seconds;
    live.set(activity.stepId, {
      ...(pending.attempt ? { attempt: pending.attempt } : {}),
      ...(payload ? { heartbeat: defaultPayloadConverter.fromPayload(payload) } : {}),
      ...(heartbeatSeconds ? { lastHeartbeatAt: new Date(Number(heartbeatSeconds) * 1000).toISOString() } : {}),
      ...(pending.lastFailure?.message ? { lastFailure: pending.lastFailure.message } : {}),
    });
  }
  return live;
}

/**
 * Queries a `runPipeline` run and merges in attempts and heartbeat details from the server;
 * `history` gives the run's events (all of them, or as far as a follower has read).
 */
export async function getPipelineProgress(handle: WorkflowHandle, history: () => Promise<History> = () => handle.fetchHistory()): Promise<PipelineProgressView> {
  const [progress, live, attempts] = await Promise.all([
    handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY),
    runningActivities(handle),
    history().then(finishedAttempts),
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
