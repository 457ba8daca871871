import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { progressFromHistory, recordedStart, type History } from '../../client/runs/run-history.ts';
import { historyFromProtoJson } from '../helpers/history-json.ts';

function savedHistory(name: string): History {
  return historyFromProtoJson(JSON.parse(readFileSync(new URL(`../fixtures/histories/${name}.json`, import.meta.url), 'utf8')));
}

/** The history as far as the event scheduling `activityId` (a run read while it is open). */
function historyUntilScheduled(history: History, activityId: string): History {
  const events = history.events ?? [];
  const at = events.findIndex((event) => event.activityTaskScheduledEventAttributes?.activityId === activityId);
  assert.ok(at >= 0, `no activity ${activityId} in the history`);
  return { ...history, events: events.slice(0, at + 1) };
}

/** The history with the run terminated after its last event (as `temporal workflow terminate` does). */
function terminated(history: History): History {
  const events = history.events ?? [];
  const last = events.at(-1);
  return { ...history, events: [...events, { eventTime: last?.eventTime ?? null, workflowExecutionTerminatedEventAttributes: { reason: 'test' } }] };
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

  it('shows a step as running from its first cache activity while the run is open, as the progress query does', () => {
    const view = progressFromHistory(historyUntilScheduled(savedHistory('pneumonia-shape'), 'subset/cache-key'), 'wf');
    assert.equal(view.state, 'running');
    assert.equal(view.endedAt, undefined);
    assert.deepEqual(view.steps.map((step) => step.state), ['succeeded', 'running', 'pending', 'pending', 'pending', 'pending']);
    assert.equal(view.steps[1]?.startedAt, '2026-11-26T07:11:15.430Z', 'the time its cache-key activity was scheduled');
  });

  it('marks a step still computing its cache key as cancelled when the run is terminated, and names no failed step', () => {
    const view = progressFromHistory(terminated(historyUntilScheduled(savedHistory('pneumonia-shape'), 'subset/cache-key')), 'wf');
    assert.equal(view.state, 'failed');
    assert.equal(view.failedStep, undefined);
    assert.deepEqual(view.steps.map((step) => step.state), ['succeeded', 'cancelled', 'cancelled', 'cancelled', 'cancelled', 'cancelled']);
    assert.ok(view.steps[1]?.startedAt !== undefined && view.steps[1].endedAt === undefined, 'it started, and no event of its own ended it');
  });

  it('ends a sweep cut off by termination as cancelled: its finished trials keep their state, a trial still in its cache bookkeeping is cancelled', () => {
    const view = progressFromHistory(terminated(historyUntilScheduled(savedHistory('sweep'), 'small#2/cache-key')), 'sweep-history-6d134cec');
    const small = view.steps.find((step) => step.id === 'small');
    assert.equal(small?.state, 'cancelled');
    assert.ok(small?.endedAt !== undefined, 'a sweep step ends with the run');
    assert.deepEqual(small?.trials?.map((trial) => [trial.index, trial.state, trial.selected]), [
      [0, 'succeeded', undefined],
      [1, 'succeeded', undefined],
      [2, 'cancelled', undefined],
    ], 'trial 3 never started: the history does not show it');
  });
});
