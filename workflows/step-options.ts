import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/errors.ts';
import type { ResolvedStep } from '../common/resolved-pipeline.ts';
import { stepActivityId } from '../common/step-activity-ids.ts';
import { taskQueueName } from '../common/task-queues.ts';
import { durationMs } from './duration.ts';

/**
 * Activity options of one step, from its resolved spec. Running siblings of a failed step are
 * cancelled and awaited (they must heartbeat to notice). The activity id names the step
 * (common/step-activity-ids.ts), so the activity and `describe()`'s pending activities can be
 * matched back to it. Durations
 * are converted to milliseconds; a malformed one throws PipelineSpecError naming the step.
 */
export function stepActivityOptions(step: ResolvedStep, taskQueuePrefix: string): ActivityOptions {
  // The built-ins always apply: the run's input leaves them out of each step (common/workflow-input.ts).
  const nonRetryable = new Set([...NON_RETRYABLE_ERROR_TYPES, ...(step.retry.nonRetryableErrorTypes ?? [])]);
  return {
    activityId: stepActivityId(step.id),
    summary: `${step.id} (${step.uses})`,
    taskQueue: taskQueueName(step.queue, taskQueuePrefix),
    // Explicit: the SDK documents this default but sends TRY_CANCEL when the option is unset.
    // Waiting means a failed run ends only after its cancelled siblings stopped (and cleaned up).
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    startToCloseTimeout: durationMs(step.timeout, `step "${step.id}" timeout`),
    ...(step.heartbeatTimeout === undefined ? {} : { heartbeatTimeout: durationMs(step.heartbeatTimeout, `step "${step.id}" heartbeatTimeout`) }),
    retry: {
      maximumAttempts: step.retry.maximumAttempts,
      initialInterval: durationMs(step.retry.initialInterval, `step "${step.id}" retry.initialInterval`),
      backoffCoefficient: step.retry.backoffCoefficient,
      ...(step.retry.maximumInterval === undefined ? {} : { maximumInterval: durationMs(step.retry.maximumInterval, `step "${step.id}" retry.maximumInterval`) }),
      nonRetryableErrorTypes: [...nonRetryable],
    },
  };
}
