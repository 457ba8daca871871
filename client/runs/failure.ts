import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { parseStepActivityId } from '../../common/step-activity-ids.ts';
import { info } from '../output.ts';

/**
 * A failed run as a person wants to read it: which step, which error type, what message.
 * Walks WorkflowFailedError → (StepFailedError) → ActivityFailure → ApplicationFailure.
 */
export interface RunFailure {
  step?: string;
  type: string;
  message: string;
}

export function describeRunFailure(error: unknown): RunFailure | undefined {
  if (!(error instanceof WorkflowFailedError)) return undefined;
  let step: string | undefined;
  let deepest: Error | undefined;
  for (let current: unknown = error.cause; current instanceof Error; current = current.cause) {
    if (current instanceof ActivityFailure && current.activityId !== undefined) {
      step ??= parseStepActivityId(current.activityId)?.stepId;
    }
    if (current instanceof ApplicationFailure) {
      const details: unknown = current.details?.[0];
      if (typeof details === 'object' && details !== null && 'stepId' in details && typeof details.stepId === 'string') {
        step ??= details.stepId;
      }
    }
    if (current instanceof TemporalFailure && !(current instanceof ActivityFailure)) deepest = current;
  }
  if (deepest === undefined) return { type: 'WorkflowFailedError', message: error.message };
  const type = deepest instanceof ApplicationFailure && deepest.type ? deepest.type : deepest.name;
  return { ...(step === undefined ? {} : { step }), type, message: deepest.message };
}

export function formatRunFailure(failure: RunFailure): string {
  return `${failure.step === undefined ? 'run' : `step "${failure.step}"`} failed: ${failure.type}: ${failure.message}`;
}

/**
 * For commands that run a helper workflow (`mlp models`, `gc`, `cache explain`): prints the
 * failure of a workflow that failed and sets exit code 1; anything else (a connection error, a
 * bug) is rethrown for the CLI's error path. Helper workflows have no steps, so no step is named.
 */
export function reportHelperWorkflowFailure(error: unknown): void {
  const failure = describeRunFailure(error);
  if (failure === undefined) throw error;
  info(`error: ${formatRunFailure({ type: failure.type, message: failure.message })}`);
  process.exitCode = 1;
}
