import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { ResolvedPipeline, ResolvedStep } from '../../common/resolved-pipeline.ts';
import { STEP_ACTIVITY_NAMES, type StepActivities, type StepActivity, type StepContext } from '../../common/step-activities.ts';

/**
 * Test implementations of the step activities, registered under the real activity names. Each
 * records when it started and ended, its attempt and whether it saw cancellation; its `with:`
 * steers it: `meet` (wait, heartbeating, until each named step of the same run has started: proof
 * that they run at the same time, whatever the machine's speed), `hold: true` (stay running,
 * heartbeating, until the test calls `release`: a state the test inspects at its own pace),
 * `sleepMs` (heartbeating every 50 ms), `failAttempts` + `failType` (fail the first N attempts), and `outputs` (returned, plus
 * `stepId` and `input`).
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

function stringsField(input: Record<string, unknown>, name: string): string[] {
  const value = input[name];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/** How long `meet` and `hold` wait: far longer than a loaded machine takes to start an activity or a test to look. */
const WAIT_TIMEOUT_MS = 60_000;

export interface RecordingSteps {
  activities: StepActivities;
  records: StepRecord[];
  /** Lets a step run with `hold: true` go on. */
  release(workflowId: string, stepId: string): void;
}

export function createRecordingSteps(): RecordingSteps {
  const records: StepRecord[] = [];
  const released = new Set<string>();
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
        const meet = stringsField(input, 'meet');
        const deadline = Date.now() + WAIT_TIMEOUT_MS;
        for (;;) {
          const missing = meet.filter((stepId) => !records.some((other) => other.workflowId === context.workflowId && other.stepId === stepId));
          if (missing.length === 0) break;
          if (Date.now() > deadline) {
            throw ApplicationFailure.nonRetryable(`${context.stepId} waited ${WAIT_TIMEOUT_MS} ms for ${missing.join(', ')} to start: they did not run at the same time`, 'TestStepError');
          }
          ctx.heartbeat({ waitingFor: missing });
          await ctx.sleep(50);
        }
        for (let held = 0; input.hold === true && !released.has(`${context.workflowId}/${context.stepId}`); held += 50) {
          if (held > WAIT_TIMEOUT_MS) throw ApplicationFailure.nonRetryable(`${context.stepId} was held ${WAIT_TIMEOUT_MS} ms and never released`, 'TestStepError');
          ctx.heartbeat({ held: true, epoch: 0, loss: 1 });
          await ctx.sleep(50);
        }
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
    runUserCode: make(STEP_ACTIVITY_NAMES.run),
  };
  return { activities, records, release: (workflowId, stepId) => void released.add(`${workflowId}/${stepId}`) };
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
