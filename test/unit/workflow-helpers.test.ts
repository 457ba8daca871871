import assert from 'node:assert/strict';
import { NON_RETRYABLE_ERROR_TYPES } from '../../common/errors.ts';
import type { PipelineProgress } from '../../common/pipeline-progress.ts';
import { renderCurrentDetails } from '../../workflows/details.ts';
import { durationMs } from '../../workflows/duration.ts';
import { searchAttributesFromOutputs } from '../../workflows/output-attributes.ts';
import { stepActivityOptions } from '../../workflows/step-options.ts';
import { testStep } from '../helpers/recording-steps.ts';

describe('step activity options', () => {
  it('converts pipeline durations to milliseconds', () => {
    assert.equal(durationMs('500ms', 'x'), 500);
    assert.equal(durationMs('30s', 'x'), 30_000);
    assert.equal(durationMs('2m', 'x'), 120_000);
    assert.equal(durationMs('1.5h', 'x'), 5_400_000);
    assert.equal(durationMs('1d', 'x'), 86_400_000);
  });

  it('rejects a malformed duration naming the field', () => {
    assert.throws(() => durationMs('2 hours', 'step "train" timeout'), {
      name: 'PipelineSpecError',
      message: 'Invalid duration "2 hours" in step "train" timeout: expected a number with ms, s, m, h or d',
    });
  });

  it('puts a step on its queue under its id with its timeouts and retry policy', () => {
    const options = stepActivityOptions(
      testStep('train-full', 'train', {
        queue: 'gpu',
        timeout: '2h',
        heartbeatTimeout: '5m',
        retry: { maximumAttempts: 4, initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '5m', nonRetryableErrorTypes: ['OutOfMemory'] },
      }),
      'prod',
    );
    assert.equal(options.activityId, 'train-full');
    assert.equal(options.taskQueue, 'prod-gpu');
    assert.equal(options.startToCloseTimeout, 7_200_000);
    assert.equal(options.heartbeatTimeout, 300_000);
    assert.equal(options.cancellationType, 'WAIT_CANCELLATION_COMPLETED');
    assert.deepEqual(options.retry, {
      maximumAttempts: 4,
      initialInterval: 10_000,
      backoffCoefficient: 2,
      maximumInterval: 300_000,
      nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES, 'OutOfMemory'],
    });
  });

  it('leaves out the heartbeat timeout and maximum interval when the step has none', () => {
    const options = stepActivityOptions(testStep('a', 'noop', { heartbeatTimeout: undefined }), 'p');
    assert.equal('heartbeatTimeout' in options, false);
    assert.equal(options.retry && 'maximumInterval' in options.retry, false);
  });
});

describe('current details', () => {
  it('renders one markdown table row per step with its state, cache flag and error', () => {
    const progress: PipelineProgress = {
      pipeline: 'pneumonia',
      specHash: 'h',
      state: 'failed',
      startedAt: '2026-01-01T00:00:00.000Z',
      steps: [
        { id: 'subset', uses: 'subset', queue: 'cpu', state: 'cached', cached: true },
        { id: 'train', uses: 'train', queue: 'gpu', state: 'failed', cached: false, error: 'TrainingDivergedError: loss is NaN' },
      ],
    };
    assert.equal(
      renderCurrentDetails(progress),
      [
        '**pneumonia** — failed',
        '',
        '| | step | kind | queue | state |',
        '|---|---|---|---|---|',
        '| ♻️ | `subset` | subset | cpu | cached |',
        '| ❌ | `train` | train | gpu | failed — TrainingDivergedError: loss is NaN |',
      ].join('\n'),
    );
  });
});

describe('search attributes from step outputs', () => {
  it('takes the dataset hash from a datasetHash output', () => {
    assert.deepEqual(searchAttributesFromOutputs('download', {}, { datasetHash: 'abc', counts: {} }), [
      { key: { name: 'DatasetHash', type: 'KEYWORD' }, value: 'abc' },
    ]);
  });

  it('names the model version <name>/<version> from the publish step', () => {
    assert.deepEqual(searchAttributesFromOutputs('publish', { name: 'pneumonia-vgg19' }, { version: 3, promoted: true }), [
      { key: { name: 'ModelVersion', type: 'KEYWORD' }, value: 'pneumonia-vgg19/3' },
    ]);
  });

  it('contributes nothing for steps without such outputs', () => {
    assert.deepEqual(searchAttributesFromOutputs('train', { name: 'x' }, { version: 3, model: 'k' }), []);
  });
});
