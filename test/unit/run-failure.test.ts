import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describeRunFailure, formatRunFailure } from '../../client/runs/failure.ts';

describe('describeRunFailure', () => {
  it('names the step, the innermost error type and its message for a failed activity', () => {
    const root = ApplicationFailure.create({ type: 'ChecksumMismatchError', message: 'sha256 mismatch for ChestXRay2017.zip', nonRetryable: true });
    const activity = new ActivityFailure('activity failed', 'download', 'download', RetryState.NON_RETRYABLE_FAILURE, 'worker', root);
    const step = ApplicationFailure.create({ type: 'StepFailedError', message: 'Step "download" failed', details: [{ stepId: 'download' }], cause: activity });
    const error = new WorkflowFailedError('Workflow execution failed', step, RetryState.NON_RETRYABLE_FAILURE);

    const failure = describeRunFailure(error);
    assert.deepEqual(failure, { step: 'download', type: 'ChecksumMismatchError', message: 'sha256 mismatch for ChestXRay2017.zip' });
    assert.equal(formatRunFailure(failure), 'step "download" failed: ChecksumMismatchError: sha256 mismatch for ChestXRay2017.zip');
  });

  it('reports a workflow-level failure without a step', () => {
    const cause = ApplicationFailure.create({ type: 'PipelineSpecError', message: 'Invalid pipeline "p": cycle', nonRetryable: true });
    const error = new WorkflowFailedError('Workflow execution failed', cause, RetryState.NON_RETRYABLE_FAILURE);
    assert.deepEqual(describeRunFailure(error), { type: 'PipelineSpecError', message: 'Invalid pipeline "p": cycle' });
  });

  it('leaves errors that are not run failures to the caller', () => {
    assert.equal(describeRunFailure(new Error('connection refused')), undefined);
  });
});
