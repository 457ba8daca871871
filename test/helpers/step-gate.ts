import { ApplicationFailure, Context } from '@temporalio/activity';
import type { StepActivity } from '../../common/step-activities.ts';

/**
 * Holds the steps of chosen runs in the running state after their work is done, until the test
 * releases them one by one: a test that must observe each step running (a watcher, a query)
 * then steps the run forward itself instead of racing it with sleeps.
 */
export interface StepGate {
  /** Steps of this run wait for `release` once their work is done. */
  hold(workflowId: string): void;
  release(workflowId: string, stepId: string): void;
  /** The activity, which for held runs waits, heartbeating and cancellable, before it returns. */
  wrap(activity: StepActivity): StepActivity;
}

/** How long a held step waits before it fails the run: far longer than any test looks. */
const HOLD_TIMEOUT_MS = 60_000;

export function createStepGate(): StepGate {
  const heldRuns = new Set<string>();
  const released = new Set<string>();
  return {
    hold: (workflowId) => void heldRuns.add(workflowId),
    release: (workflowId, stepId) => void released.add(`${workflowId}/${stepId}`),
    wrap: (activity) => async (input, context) => {
      const outputs = await activity(input, context);
      const ctx = Context.current();
      for (let held = 0; heldRuns.has(context.workflowId) && !released.has(`${context.workflowId}/${context.stepId}`); held += 50) {
        if (held > HOLD_TIMEOUT_MS) throw ApplicationFailure.nonRetryable(`${context.stepId} was held ${HOLD_TIMEOUT_MS} ms and never released`, 'TestStepError');
        ctx.heartbeat({ held: true });
        await ctx.sleep(50);
      }
      return outputs;
    },
  };
}
