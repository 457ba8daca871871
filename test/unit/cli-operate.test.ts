import assert from 'node:assert/strict';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import type { StepProgressView } from '../../client/runs/progress.ts';
import { stepBar } from '../../client/runs/progress-bars.ts';
import { compareOutputs, datasetHashes, datasetHashGuard, reproductionSpec } from '../../client/pipelines/reproduce.ts';
import { runListQuery } from '../../client/runs/run-list.ts';
import { outputHighlights, type RunView } from '../../client/runs/run-view.ts';
import { fileScheduleSettings, pipelineScheduleOptions } from '../../client/pipelines/schedule-options.ts';
import { specHashOf } from '../../client/pipelines/pipeline-file.ts';

function running(heartbeat: unknown, attempt = 1): StepProgressView {
  return { id: 's', uses: 'train', queue: 'gpu', state: 'running', cached: false, heartbeat, attempt };
}

function pipeline(): ResolvedPipeline {
  const unhashed = {
    apiVersion: 'mlp/v1' as const,
    name: 'p',
    params: { seed: 42 },
    steps: [
      { id: 'download', uses: 'download', with: { url: 'https://x/a.zip' }, needs: [], queue: 'cpu' as const, retry: { maximumAttempts: 3, initialInterval: '1s', backoffCoefficient: 2 }, timeout: '1h', cache: true },
    ],
  };
  return { ...unhashed, specHash: specHashOf(unhashed) };
}

function view(workflowId: string, steps: { id: string; outputs?: Record<string, unknown> }[]): RunView {
  return {
    workflowId,
    runId: 'r',
    status: 'RUNNING',
    taskQueue: 'q',
    source: 'query',
    pipeline: 'p',
    specHash: 'h',
    state: 'running',
    startedAt: '',
    metrics: {},
    artifacts: [],
    reports: {},
    steps: steps.map((step) => ({ uses: 'download', queue: 'cpu', state: 'succeeded', cached: false, ...step })),
  };
}

describe('watch progress bars', () => {
  it('measures a download in bytes and an import or subset in images', () => {
    assert.deepEqual(stepBar(running({ phase: 'download', bytesDone: 2_000_000, bytesTotal: 8_000_000 })), { value: 2_000_000, total: 8_000_000, detail: '2.0/8.0 MB' });
    assert.deepEqual(stepBar(running({ phase: 'import', imagesDone: 10, imagesTotal: 40 })), { value: 10, total: 40, detail: '10/40 images (import)' });
    assert.deepEqual(stepBar(running({ imagesDone: 3, imagesTotal: 9 })), { value: 3, total: 9, detail: '3/9 images' });
  });

  it('shows epoch, batch, loss and accuracy of training, moving within an epoch when batch counts are known', () => {
    assert.deepEqual(stepBar(running({ kind: 'batch', epoch: 2, batch: 5, batches: 10, epochs: 4, loss: 0.123456 })), {
      value: 1.5,
      total: 4,
      detail: 'epoch 2/4 batch 5/10 loss 0.1235',
    });
    assert.deepEqual(stepBar(running({ kind: 'epoch', epoch: 3, epochs: 4, log: { loss: 0.2, accuracy: 0.9, valLoss: 0.3, valAccuracy: 0.85 } })), {
      value: 3,
      total: 4,
      detail: 'epoch 3/4 loss 0.2 acc 0.9 val_loss 0.3 val_acc 0.85',
    });
  });

  it('has no measure for unknown details and names a retry attempt', () => {
    assert.deepEqual(stepBar(running({ something: 'else' }, 2)), { value: 0, total: 0, detail: 'running (attempt 2)' });
    assert.deepEqual(stepBar({ ...running(undefined), state: 'cached' }), { value: 1, total: 1, detail: 'cache hit' });
  });

  it("measures a run step by its command's progress lines, and names the phase with the last log line otherwise", () => {
    const runStep = (heartbeat: unknown, attempt = 1): StepProgressView => ({ ...running(heartbeat, attempt), uses: 'run' });
    assert.deepEqual(stepBar(runStep({ phase: 'running', done: 3, total: 10, message: 'epoch 3', lastLine: 'loss 0.4' })), { value: 3, total: 10, detail: 'running 3/10 epoch 3' });
    assert.deepEqual(stepBar(runStep({ phase: 'running', lastLine: 'fitting C=0.1' }, 2)), { value: 0, total: 0, detail: 'running fitting C=0.1 (attempt 2)' });
    assert.deepEqual(stepBar(runStep({ phase: 'environment', lastLine: `Collecting scikit-learn==1.7.2 ${'x'.repeat(80)}` })), {
      value: 0,
      total: 0,
      detail: `building the Python environment Collecting scikit-learn==1.7.2 ${'x'.repeat(28)}…`,
    });
    assert.deepEqual(stepBar(runStep({ phase: 'outputs', done: 12, total: 10 })), { value: 10, total: 10, detail: 'uploading outputs 12/10' });
  });
});

describe('run listing and show highlights', () => {
  it('builds the visibility query from the filters, escaping quotes', () => {
    assert.equal(runListQuery({}), "WorkflowType = 'runPipeline'");
    assert.equal(
      runListQuery({ pipeline: "it's", status: 'cancelled', schedule: 'nightly' }),
      "WorkflowType = 'runPipeline' AND PipelineName = 'it\\'s' AND ExecutionStatus = 'Canceled' AND TemporalScheduledById = 'nightly'",
    );
  });

  it('collects metrics, reports and every object key among the outputs', () => {
    const highlights = outputHighlights([
      { id: 'evaluate', outputs: { metrics: { auc: 0.9 }, report: 'runs/w/evaluate/report.md', plots: { roc: 'runs/w/evaluate/roc.png' } } },
      { id: 'noop', outputs: { value: 'not a key' } },
    ]);
    assert.deepEqual(highlights.metrics, { evaluate: { auc: 0.9 } });
    assert.deepEqual(highlights.reports, { evaluate: 'runs/w/evaluate/report.md' });
    assert.deepEqual(highlights.artifacts, [
      { step: 'evaluate', output: 'report', key: 'runs/w/evaluate/report.md' },
      { step: 'evaluate', output: 'plots.roc', key: 'runs/w/evaluate/roc.png' },
    ]);
  });
});

describe('reproduce', () => {
  it('turns every step cache off and rehashes the spec, keeping params and inputs', () => {
    const original = pipeline();
    const rerun = reproductionSpec(original, { useCache: false });
    assert.equal(rerun.steps[0]?.cache, false);
    assert.deepEqual(rerun.params, original.params);
    assert.notEqual(rerun.specHash, original.specHash);
    assert.equal(reproductionSpec(original, { useCache: true }).specHash, original.specHash);
  });

  it('stops with DatasetHashMismatchError as soon as the re-run imports a different dataset', () => {
    const expected = datasetHashes([{ id: 'download', outputs: { datasetHash: 'a'.repeat(64) } }]);
    const guard = datasetHashGuard('p-1', expected);
    guard.update(view('p-2', [{ id: 'download', outputs: { datasetHash: 'a'.repeat(64) } }]));
    assert.throws(() => guard.update(view('p-2', [{ id: 'download', outputs: { datasetHash: 'b'.repeat(64) } }])), {
      name: 'DatasetHashMismatchError',
      message: `Reproducing p-1 failed: step "download" imported dataset ${'b'.repeat(64)}, but the original run used ${'a'.repeat(64)} (the source data changed)`,
    });
  });

  it('compares outputs with the run-specific object keys swapped, naming the outputs that differ', () => {
    const original = { workflowId: 'p-1', steps: [{ id: 'subset', outputs: { train: 'runs/p-1/subset/train.json', hash: 'x' } }, { id: 'train', outputs: { weights: 'w1' } }] };
    const rerun = view('p-2', [{ id: 'subset', outputs: { train: 'runs/p-2/subset/train.json', hash: 'x' } }, { id: 'train', outputs: { weights: 'w2' } }]);
    assert.deepEqual(compareOutputs(original, rerun), [
      { step: 'subset', result: 'identical' },
      { step: 'train', result: 'different', differing: ['weights'] },
    ]);
  });

  it('ignores outputs that measure the run (timings, reuse counters, registry versions) but not results', () => {
    const original = {
      workflowId: 'p-a',
      steps: [
        { id: 'train', uses: 'train', outputs: { weightsSha256: 'w1', secondsPerEpoch: 1.5, imagesPerSecond: 200, resumedFromEpoch: 0 } },
        { id: 'publish', uses: 'publish', outputs: { version: 1, prefix: 'models/m/1/', promoted: true, reason: 'promoted' } },
      ],
    };
    const sameResult = view('p-b', [
      { id: 'train', outputs: { weightsSha256: 'w1', secondsPerEpoch: 2.5, imagesPerSecond: 120, resumedFromEpoch: 2 } },
      { id: 'publish', outputs: { version: 2, prefix: 'models/m/2/', promoted: false, reason: 'does not beat production' } },
    ]);
    assert.deepEqual(compareOutputs(original, sameResult), [
      { step: 'train', result: 'identical' },
      { step: 'publish', result: 'identical' },
    ]);
    const otherWeights = view('p-c', [{ id: 'train', outputs: { weightsSha256: 'w2', secondsPerEpoch: 1.5, imagesPerSecond: 200, resumedFromEpoch: 0 } }]);
    assert.deepEqual(compareOutputs({ ...original, steps: original.steps.slice(0, 1) }, otherWeights), [
      { step: 'train', result: 'different', differing: ['weightsSha256'] },
    ]);
  });
});

describe('pipeline schedules', () => {
  it('starts scheduled runs like mlp run: same arguments, memo, PipelineName and UI summary; short catch-up window', () => {
    const spec = pipeline();
    const options = pipelineScheduleOptions(spec, { scheduleId: 'nightly', cron: '0 2 * * *', taskQueuePrefix: 'ml' });
    assert.equal(options.policies?.catchupWindow, '1d');
    assert.equal(options.policies?.overlap, 'SKIP');
    assert.deepEqual(options.spec, { cronExpressions: ['0 2 * * *'], timezone: 'UTC' });
    assert.equal(options.action.workflowId, 'p-scheduled');
    assert.equal(options.action.taskQueue, 'ml-cpu');
    assert.deepEqual(options.action.args, [spec, { taskQueuePrefix: 'ml' }]);
    assert.deepEqual(options.action.memo, { specHash: spec.specHash, pipeline: 'p' });
    assert.deepEqual(options.action.typedSearchAttributes, [
      { key: { name: 'PipelineName', type: 'KEYWORD' }, value: 'p' },
      { key: { name: 'PipelineStatus', type: 'KEYWORD' }, value: 'running' },
    ]);
  });

  it("maps a file's schedule block to CLI settings and refuses a file without one", () => {
    assert.deepEqual(fileScheduleSettings({ name: 'p', schedule: { cron: '0 3 * * 1', timeZone: 'Europe/Berlin', overlap: 'bufferOne' } }, 'p.yaml'), {
      cron: '0 3 * * 1',
      timeZone: 'Europe/Berlin',
      overlap: 'buffer-one',
    });
    assert.throws(() => fileScheduleSettings({ name: 'p' }, 'p.yaml'), {
      name: 'PipelineSpecError',
      message: 'Applying the schedule of p.yaml failed: pipeline "p" has no schedule: block',
    });
  });
});
