import { ApplicationFailure } from '@temporalio/activity';
import { noopStep } from '../../common/step-kinds/noop.ts';
import { defineStep } from './define-step.ts';
import { HEARTBEAT_EVERY_MS } from './heartbeat-throttle.ts';

/**
 * The built-in `noop` step: echoes `value`, optionally after sleeping (heartbeating, so it can be
 * cancelled) or failing on purpose. Orchestration tests and the overhead benchmark use it.
 */
export const createNoopActivity = defineStep(noopStep, () => async ({ input, context, heartbeat, info, sleep }) => {
  const { value, sleepMs, fail } = input;
  let slept = 0;
  while (slept < sleepMs) {
    const chunk = Math.min(HEARTBEAT_EVERY_MS, sleepMs - slept);
    heartbeat({ sleptMs: slept, sleepMs });
    await sleep(chunk);
    slept += chunk;
  }
  if (fail !== undefined && (fail.attempts === undefined || info.attempt <= fail.attempts)) {
    throw ApplicationFailure.retryable(`${fail.message} (step "${context.stepId}", attempt ${info.attempt})`, fail.type);
  }
  return { value };
});
