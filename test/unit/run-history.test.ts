import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { progressFromHistory, recordedStart, type History } from '../../client/run-history.ts';
import { historyFromProtoJson } from '../helpers/history-json.ts';

function savedHistory(name: string): History {
  return historyFromProtoJson(JSON.parse(readFileSync(new URL(`../fixtures/histories/${name}.json`, import.meta.url), 'utf8')));
}

describe('run history (show without a worker, reproduce)', () => {
  it('reads the resolved spec and options a run was started with from its first event', () => {
    const start = recordedStart(savedHistory('pneumonia-shape'), 'wf');
    assert.equal(start.workflowType, 'runPipeline');
    assert.equal(start.spec.name, 'pneumonia-shape');
    assert.deepEqual(start.spec.steps.map((step) => step.id), ['download', 'subset', 'train-partial', 'train-full', 'evaluate', 'publish']);
    assert.match(start.options.taskQueuePrefix ?? '', /^record-/);
  });

  it('rebuilds every step of a finished run: state, attempts of a retried step, outputs and cache keys', () => {
    const view = progressFromHistory(savedHistory('pneumonia-shape'), 'wf');
    assert.equal(view.state, 'succeeded');
    assert.deepEqual(
      view.steps.map((step) => [step.id, step.state, step.attempt]),
      [
        ['download', 'succeeded', 1],
        ['subset', 'succeeded', 1],
        ['train-partial', 'succeeded', 2],
        ['train-full', 'succeeded', 1],
        ['evaluate', 'succeeded', 1],
        ['publish', 'succeeded', 1],
      ],
    );
    assert.deepEqual(view.steps[4]?.outputs?.['metrics'], { accuracy: 0.9, auc: 0.95 });
    assert.match(view.steps[1]?.cacheKey ?? '', /^[a-f0-9]{64}$/);
    for (const step of view.steps) assert.ok(step.startedAt !== undefined && step.endedAt !== undefined && step.startedAt <= step.endedAt);
  });

  it('marks a cache hit as cached with the recorded outputs and no attempt of its own', () => {
    const subset = progressFromHistory(savedHistory('pneumonia-shape-cached'), 'wf').steps[1];
    assert.equal(subset?.state, 'cached');
    assert.equal(subset?.cached, true);
    assert.equal(subset?.attempt, undefined);
    assert.equal(subset?.outputs?.['trainManifest'], 'runs/x/subset/train.json');
  });

  it('marks the steps a rerun reused, and says why the others it meant to reuse ran again', () => {
    const view = progressFromHistory(savedHistory('pneumonia-shape-rerun'), 'wf');
    const [download, subset, trainPartial, trainFull] = view.steps;
    assert.equal(download?.state, 'reused');
    assert.match(download?.reusedFrom ?? '', /^pneumonia-shape-[0-9a-f]{8}\/[0-9a-f-]{36}$/);
    assert.equal(download?.outputs?.['datasetManifest'], 'datasets/fixture/manifest.json');
    assert.equal(subset?.state, 'succeeded');
    assert.equal(subset?.reuseMiss, 'artifact missing: runs/x/subset/train.json, runs/x/subset/val.json, runs/x/subset/test.json');
    assert.equal(trainPartial?.state, 'succeeded');
    assert.equal(trainPartial?.reuseMiss, 'upstream step "subset" ran again');
    assert.equal(trainFull?.state, 'succeeded');
    assert.equal(trainFull?.reuseMiss, undefined, 'the step the rerun starts from was never meant to be reused');
  });

  it('names the failed step with its error type and marks the steps that never ran as cancelled', () => {
    const view = progressFromHistory(savedHistory('pneumonia-shape-failing'), 'wf');
    assert.equal(view.state, 'failed');
    assert.equal(view.failedStep, 'train-full');
    assert.equal(view.steps[3]?.error, 'TrainingDivergedError: train-full failed on purpose (attempt 1)');
    assert.deepEqual(view.steps.slice(4).map((step) => step.state), ['cancelled', 'cancelled']);
  });
});
