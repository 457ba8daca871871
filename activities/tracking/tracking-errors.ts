import { ApplicationFailure } from '@temporalio/activity';
import { MlflowError } from './mlflow-client.ts';

/** Failure type of a tracking problem under `required: true` (non-retryable: the activity already retried). */
export const TRACKING_REQUIRED_ERROR = 'TrackingRequiredError';

/** Why tracking did not happen, in one line that names the server and never a credential. */
export function trackingProblem(error: unknown): string {
  if (error instanceof MlflowError) return error.message;
  return `MLflow tracking failed: ${error instanceof Error ? error.message : String(error)}`;
}

/** What `required: true` turns a tracking problem into: the run fails, naming the tracking URI. */
export function requiredTrackingFailure(problem: string): ApplicationFailure {
  return ApplicationFailure.create({ type: TRACKING_REQUIRED_ERROR, nonRetryable: true, message: `tracking.mlflow is required: ${problem}` });
}
