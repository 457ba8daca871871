import { proxyActivities } from '@temporalio/workflow';
import type { StepLogActivities } from '../activities/run/step-log-reader.ts';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/errors.ts';
import type { StepLogsRequest, StepLogsResponse } from '../common/step-log.ts';

/**
 * `mlp logs` as a short workflow, like `mlp models` (workflows/models.ts): the CLI holds no
 * storage credentials, so a worker reads the logs. `--follow` runs one per poll.
 */
const logs = proxyActivities<StepLogActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
});

/** The lines each selected step log gained since the reader's offsets. */
export async function readStepLogs(request: StepLogsRequest): Promise<StepLogsResponse> {
  return logs.stepLogsRead(request);
}
