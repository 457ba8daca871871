import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { ResolvedPipeline, ResolvedStep } from '../../common/resolved-pipeline.ts';
import { STEP_ACTIVITY_NAMES, type StepActivities, type StepActivity, type StepContext } from '../../common/step-activities.ts';

/**
 * Test implementations of the step activities, registered under the real activity names. Each
 * records when it started and ended, its attempt and whether it saw cancellation; its `with:`
 * steers it: `sleepMs` (heartbeating every 50 ms), `failAttempts` + `failType` (fail the first
 * N attempts), and `outputs` (returned, plus `stepId` and `input`).
 */

export interface StepRecord {
  workflowId: string;
  stepId: string;
  activity: string;
  attempt: number;
  startedAt: number;
  endedAt?: number;
  outcome?: 'succeeded' | 'failed' | 'cancelled';
}

function numberField(input: Record<string, unknown>, name: string): number {
  const value = input[name];
  return typeof value === 'number' ? value : 0;
}

export function createRecordingSteps(): { activities: StepActivities; records: StepRecord[] } {
  const records: StepRecord[] = [];
  const make =
    (activity: string): StepActivity =>
    async (input: Record<string, unknown>, context: StepContext) => {
      const ctx = Context.current();
      const record: StepRecord = {
        workflowId: context.workflowId,
        stepId: context.stepId,
        activity,
        attempt: ctx.info.attempt,
        startedAt: Date.now(),
      };
      records.push(record);
      try {
        const sleepMs = numberField(input, 'sleepMs');
        for (let slept = 0; slept < sleepMs; slept += 50) {
          ctx.heartbeat({ sleptMs: slept, epoch: Math.floor(slept / 50), loss: 1 / (1 + slept) });
          await ctx.sleep(Math.min(50, sleepMs - slept));
        }
        if (ctx.info.attempt <= numberField(input, 'failAttempts')) {
          const type = typeof input.failType === 'string' ? input.failType : 'TestStepError';
          throw ApplicationFailure.retryable(`${context.stepId} failed on purpose (attempt ${ctx.info.attempt})`, type);
        }
        record.outcome = 'succeeded';
        const outputs = typeof input.outputs === 'object' && input.outputs !== null ? input.outputs : {};
        return { ...outputs, stepId: context.stepId, input };
      } catch (error) {
        record.outcome = error instanceof CancelledFailure ? 'cancelled' : 'failed';
        throw error;
      } finally {
        record.endedAt = Date.now();
      }
    };
  const activities: StepActivities = {
    noop: make(STEP_ACTIVITY_NAMES.noop),
    downloadDataset: make(STEP_ACTIVITY_NAMES.download),
    subsetDataset: make(STEP_ACTIVITY_NAMES.subset),
    trainModel: make(STEP_ACTIVITY_NAMES.train),
    evaluateModel: make(STEP_ACTIVITY_NAMES.evaluate),
    publishModel: make(STEP_ACTIVITY_NAMES.publish),
  };
  return { activities, records };
}

/** A step with test-friendly defaults: cpu queue, 3 quick attempts, 2 s heartbeat timeout. */
export function testStep(id: string, uses: string, options: Partial<ResolvedStep> = {}): ResolvedStep {
  return {
    id,
    uses,
    with: {},
    needs: [],
    queue: 'cpu',
    retry: { maximumAttempts: 3, initialInterval: '50ms', backoffCoefficient: 1 },
    timeout: '1m',
    heartbeatTimeout: '2s',
    cache: false,
    ...options,
  };
}

export function testPipeline(name: string, steps: ResolvedStep[]): ResolvedPipeline {
  return { apiVersion: 'mlp/v1', name, specHash: `spec-${name}`, params: {}, steps };
}
