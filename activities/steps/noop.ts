import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { PipelineSpecError } from '../common/errors.ts';
import type { StepContext, StepOutputs } from '../common/step-activities.ts';
import { noopStep } from '../common/step-kinds/noop.ts';
import type { ActivityDeps } from './deps.ts';

/** How often a sleeping noop step heartbeats (and so notices cancellation). */
const HEARTBEAT_EVERY_MS = 1_000;

/**
 * The built-in `noop` step: echoes `value`, optionally after sleeping (heartbeating, so it can be
 * cancelled) or failing on purpose. Orchestration tests and the overhead benchmark use it.
 */
export function createNoopActivities(_deps: ActivityDeps) {
  return {
    async noop(input: Record<string, unknown>, context: StepContext): Promise<StepOutputs> {
      const parsed = noopStep.input.safeParse(input);
      if (!parsed.success) {
        throw new PipelineSpecError(`Invalid inputs of noop step "${context.stepId}": ${z.prettifyError(parsed.error)}`);
      }
      const { value, sleepMs, fail } = parsed.data;
      const activity = Context.current();
      let slept = 0;
      while (slept < sleepMs) {
        const chunk = Math.min(HEARTBEAT_EVERY_MS, sleepMs - slept);
        activity.heartbeat({ sleptMs: slept, sleepMs });
        await activity.sleep(chunk);
        slept += chunk;
      }
      if (fail !== undefined && (fail.attempts === undefined || activity.info.attempt <= fail.attempts)) {
        throw ApplicationFailure.retryable(
          `${fail.message} (step "${context.stepId}", attempt ${activity.info.attempt})`,
          fail.type,
        );
      }
      return { value };
    },
  };
}
