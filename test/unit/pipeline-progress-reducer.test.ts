import assert from 'node:assert/strict';
import type { PipelineProgress } from '../../common/pipeline-progress.ts';
import { reducePipelineProgress, startPipelineProgress, type PipelineProgressEvent } from '../../common/pipeline-progress-reducer.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:00:01.000Z';
const T2 = '2026-01-01T00:00:02.000Z';
const T3 = '2026-01-01T00:00:03.000Z';

/** A run of three steps in a row: download → subset → train. */
function started(): PipelineProgress {
  return startPipelineProgress({
    pipeline: 'pneumonia',
    specHash: 'h',
    at: T0,
    steps: [
      { id: 'download', uses: 'download', queue: 'cpu' },
      { id: 'subset', uses: 'subset', queue: 'cpu' },
      { id: 'train', uses: 'train', queue: 'gpu' },
    ],
  });
}

/** Freezes the whole state, so a reducer that mutates its input throws instead of passing. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/** Folds the events from `from`, freezing each state before the next event sees it. */
function reduce(from: PipelineProgress, ...events: PipelineProgressEvent[]): PipelineProgress {
  return events.reduce((progress, event) => reducePipelineProgress(deepFreeze(progress), event), from);
}

const step = (progress: PipelineProgress, id: string) => progress.steps.find((candidate) => candidate.id === id);

describe('pipeline progress reducer', () => {
  it('starts with every step pending and not cached, in spec order, and the run running', () => {
    const progress = started();
    assert.deepEqual(progress, {
      pipeline: 'pneumonia',
      specHash: 'h',
      state: 'running',
      startedAt: T0,
      steps: [
        { id: 'download', uses: 'download', queue: 'cpu', state: 'pending', cached: false },
        { id: 'subset', uses: 'subset', queue: 'cpu', state: 'pending', cached: false },
        { id: 'train', uses: 'train', queue: 'gpu', state: 'pending', cached: false },
      ],
    });
  });

  it('runs a step: running from its start, then succeeded with its outputs, cache key and end time', () => {
    const running = reduce(started(), { type: 'stepStarted', stepId: 'download', at: T1 });
    assert.deepEqual(step(running, 'download'), { id: 'download', uses: 'download', queue: 'cpu', state: 'running', cached: false, startedAt: T1 });
    const done = reduce(running, { type: 'stepSucceeded', stepId: 'download', at: T2, cached: false, outputs: { datasetManifest: 'datasets/a/manifest.json' }, cacheKey: 'k1' });
    assert.deepEqual(step(done, 'download'), {
      id: 'download',
      uses: 'download',
      queue: 'cpu',
      state: 'succeeded',
      cached: false,
      startedAt: T1,
      outputs: { datasetManifest: 'datasets/a/manifest.json' },
      endedAt: T2,
      cacheKey: 'k1',
    });
    assert.equal(step(done, 'subset')?.state, 'pending', 'other steps are untouched');
  });

  it('marks a cache hit as cached and outputs taken from an earlier run as reused', () => {
    const progress = reduce(
      started(),
      { type: 'stepStarted', stepId: 'download', at: T1 },
      { type: 'stepSucceeded', stepId: 'download', at: T2, cached: false, outputs: { datasetManifest: 'm' }, reusedFrom: 'pneumonia-1/run-a' },
      { type: 'stepStarted', stepId: 'subset', at: T2 },
      { type: 'stepSucceeded', stepId: 'subset', at: T3, cached: true, outputs: { trainManifest: 't' }, cacheKey: 'k2' },
    );
    assert.deepEqual([step(progress, 'download')?.state, step(progress, 'download')?.reusedFrom, step(progress, 'download')?.cached], ['reused', 'pneumonia-1/run-a', false]);
    assert.deepEqual([step(progress, 'subset')?.state, step(progress, 'subset')?.cached, step(progress, 'subset')?.cacheKey], ['cached', true, 'k2']);
  });

  it('keeps why a step meant for reuse, and then its cache entry, were not used once it succeeded', () => {
    const progress = reduce(
      started(),
      { type: 'stepStarted', stepId: 'subset', at: T1 },
      { type: 'reuseMiss', stepId: 'subset', reason: 'artifact missing: runs/x/subset/train.json' },
      { type: 'cacheKeyComputed', stepId: 'subset', cacheKey: 'k2' },
      { type: 'cacheMiss', stepId: 'subset', reason: 'cache entry of run r not used: artifact changed' },
      { type: 'stepSucceeded', stepId: 'subset', at: T2, cached: false, outputs: { trainManifest: 't' } },
    );
    const subset = step(progress, 'subset');
    assert.equal(subset?.state, 'succeeded');
    assert.equal(subset?.reuseMiss, 'artifact missing: runs/x/subset/train.json');
    assert.equal(subset?.cacheMiss, 'cache entry of run r not used: artifact changed');
    assert.equal(subset?.cacheKey, 'k2', 'the key computed before the step ran');
  });

  it('ends a failed run naming the failed step, with a cancelled sibling and a never-started step cancelled without an end time', () => {
    const progress = reduce(
      started(),
      { type: 'stepStarted', stepId: 'download', at: T1 },
      { type: 'stepStarted', stepId: 'subset', at: T1 },
      { type: 'stepFailed', stepId: 'download', at: T2, error: 'DatasetError: zip is empty' },
      { type: 'stepCancelled', stepId: 'subset', at: T2 },
      { type: 'stepCancelled', stepId: 'train' },
      { type: 'runEnded', state: 'failed', at: T3, failedStep: 'download' },
    );
    assert.deepEqual(
      progress.steps.map(({ id, state, endedAt, error }) => ({ id, state, endedAt, error })),
      [
        { id: 'download', state: 'failed', endedAt: T2, error: 'DatasetError: zip is empty' },
        { id: 'subset', state: 'cancelled', endedAt: T2, error: undefined },
        { id: 'train', state: 'cancelled', endedAt: undefined, error: undefined },
      ],
    );
    assert.equal('endedAt' in (step(progress, 'train') ?? {}), false);
    assert.deepEqual([progress.state, progress.failedStep, progress.endedAt], ['failed', 'download', T3]);
  });

  it('ends a succeeded run without a failed step', () => {
    const progress = reduce(started(), { type: 'runEnded', state: 'succeeded', at: T3 });
    assert.deepEqual([progress.state, progress.endedAt, 'failedStep' in progress], ['succeeded', T3, false]);
  });

  it('follows a sweep: trials planned pending, each started and ended, a cache miss shown on its trial, the winner selected', () => {
    const progress = reduce(
      started(),
      { type: 'stepStarted', stepId: 'train', at: T1 },
      { type: 'trialsPlanned', stepId: 'train', trials: [{ index: 0, matrix: { lr: 0.1 } }, { index: 1, matrix: { lr: 0.01 } }, { index: 2, matrix: { lr: 0.001 } }] },
      { type: 'trialStarted', stepId: 'train', index: 0, matrix: { lr: 0.1 }, at: T1 },
      { type: 'trialStarted', stepId: 'train', index: 1, matrix: { lr: 0.01 }, at: T1 },
      { type: 'cacheMiss', stepId: 'train', trial: 1, reason: 'cache entry of run r not used: model missing' },
      { type: 'trialEnded', stepId: 'train', index: 0, state: 'cached', at: T2, cacheKey: 'k0' },
      { type: 'trialEnded', stepId: 'train', index: 1, state: 'failed', at: T2, error: 'TrainingDivergedError: loss is NaN' },
    );
    assert.deepEqual(step(progress, 'train')?.trials, [
      { index: 0, matrix: { lr: 0.1 }, state: 'cached', startedAt: T1, endedAt: T2, cacheKey: 'k0' },
      { index: 1, matrix: { lr: 0.01 }, state: 'failed', startedAt: T1, error: 'TrainingDivergedError: loss is NaN', endedAt: T2 },
      { index: 2, matrix: { lr: 0.001 }, state: 'pending' },
    ]);
    assert.equal(step(progress, 'train')?.state, 'running', 'a sweep step ends with its own event, not with its trials');

    const judged = reduce(
      progress,
      { type: 'trialStarted', stepId: 'train', index: 2, matrix: { lr: 0.001 }, at: T2 },
      { type: 'trialEnded', stepId: 'train', index: 2, state: 'succeeded', at: T3 },
      { type: 'trialRecorded', stepId: 'train', index: 0, selected: false, metric: 0.8 },
      { type: 'trialRecorded', stepId: 'train', index: 1, selected: false, error: 'TrainingDivergedError: loss is NaN' },
      { type: 'trialRecorded', stepId: 'train', index: 2, selected: true, metric: 0.9 },
      { type: 'stepSucceeded', stepId: 'train', at: T3, cached: false, outputs: { model: 'runs/x/train/trials/2/model' } },
    );
    assert.deepEqual(
      step(judged, 'train')?.trials?.map(({ index, state, metric, selected }) => ({ index, state, metric, selected })),
      [
        { index: 0, state: 'cached', metric: 0.8, selected: false },
        { index: 1, state: 'failed', metric: undefined, selected: false },
        { index: 2, state: 'succeeded', metric: 0.9, selected: true },
      ],
    );
    assert.equal(step(judged, 'train')?.state, 'succeeded');
  });

  it('adds a trial it was not told of when it starts (a history shows only the trials that started), in index order', () => {
    const progress = reduce(
      started(),
      { type: 'stepStarted', stepId: 'train', at: T1 },
      { type: 'trialStarted', stepId: 'train', index: 3, matrix: { lr: 0.3 }, at: T1 },
      { type: 'trialStarted', stepId: 'train', index: 1, matrix: { lr: 0.1 }, at: T2 },
    );
    assert.deepEqual(step(progress, 'train')?.trials, [
      { index: 1, matrix: { lr: 0.1 }, state: 'running', startedAt: T2 },
      { index: 3, matrix: { lr: 0.3 }, state: 'running', startedAt: T1 },
    ]);
  });

  it('changes nothing for a step the run does not have or a trial that never started', () => {
    const before = reduce(started(), { type: 'stepStarted', stepId: 'train', at: T1 });
    for (const event of [
      { type: 'stepStarted', stepId: 'evaluate', at: T2 },
      { type: 'stepFailed', stepId: 'evaluate', at: T2, error: 'x' },
      { type: 'trialEnded', stepId: 'train', index: 0, state: 'succeeded', at: T2 },
      { type: 'trialRecorded', stepId: 'subset', index: 0, selected: true },
    ] satisfies PipelineProgressEvent[]) {
      assert.deepEqual(reduce(before, event), before, event.type);
    }
  });
});
