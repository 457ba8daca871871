import { CancellationScope, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { NotificationActivities } from '../activities/notify/notification-activities.ts';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/errors.ts';
import { dueTargets, notificationActivityId, runNotice, type NotifyTarget } from '../common/notifications.ts';
import type { PipelineProgress } from '../common/pipeline-progress.ts';
import type { PipelineProgressEvent } from '../common/pipeline-progress-reducer.ts';
import { taskQueueName } from '../common/task-queues.ts';
import { errorMessage } from './failures.ts';

/**
 * Attempts of one notification: a webhook that is down for a few seconds still gets it, one
 * that stays down costs the run's end under a minute (1 + 2 + 4 + 8 s of backoff).
 */
const NOTIFY_RETRY = { maximumAttempts: 5, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] };

/**
 * Tells the pipeline's `notify:` targets how the run ended, after its progress recorded the end:
 * one activity per due target (`notify/<index>`) on the cpu queue, where the worker resolves the
 * URL. Runs in a non-cancellable scope, so a run that failed (or whose steps were cancelled
 * because one failed) still notifies, and never throws: a webhook that keeps failing is recorded
 * as a `notificationEnded` event and the run ends exactly as it would have without `notify:`.
 * A run without targets, or whose end raises nothing (cancelled), issues no command at all, so
 * histories recorded before `notify:` existed replay unchanged.
 */
export async function notifyRunEnd(
  targets: readonly NotifyTarget[] | undefined,
  progress: PipelineProgress,
  taskQueuePrefix: string,
  record: (event: PipelineProgressEvent) => void,
): Promise<void> {
  if (targets === undefined || targets.length === 0) return;
  const { workflowId, runId } = workflowInfo();
  const notice = runNotice(progress, { workflowId, runId });
  if (notice === undefined) return;
  const due = dueTargets(targets, notice);
  await CancellationScope.nonCancellable(() =>
    Promise.all(
      due.map(async ({ index, target }) => {
        const { notifyRun } = proxyActivities<NotificationActivities>({
          activityId: notificationActivityId(index),
          summary: `notify[${index}] ${notice.status}`,
          taskQueue: taskQueueName('cpu', taskQueuePrefix),
          startToCloseTimeout: '30 seconds',
          retry: NOTIFY_RETRY,
        });
        try {
          await notifyRun({ index, urlFrom: target.webhook.urlFrom, notice });
          record({ type: 'notificationEnded', index, sent: true, at: new Date().toISOString() });
        } catch (error) {
          const reason = errorMessage(error);
          log.warn('Run notification failed', { index, error: reason });
          record({ type: 'notificationEnded', index, sent: false, at: new Date().toISOString(), error: reason });
        }
      }),
    ),
  );
}
