import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/workflow';

/** The innermost message of a failure, with its type when it has one (`TrainingDivergedError: …`). */
export function errorMessage(error: unknown): string {
  if ((error instanceof ActivityFailure || error instanceof ChildWorkflowFailure) && error.cause !== undefined) return errorMessage(error.cause);
  if (error instanceof ApplicationFailure && error.type) return `${error.type}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** A non-retryable failure of the run for a spec the workflow cannot run. */
export function specFailure(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: 'PipelineSpecError', nonRetryable: true });
}
