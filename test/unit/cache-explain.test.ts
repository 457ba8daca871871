import assert from 'node:assert/strict';
import { explainRun, formatExplanation, previousEntry, refreshedSteps } from '../../client/runs/cache-explain.ts';
import type { PipelineProgressView } from '../../client/runs/progress.ts';
import type { CacheKeyParts } from '../../common/cache-key.ts';
import type { CacheEntrySummary } from '../../common/cache-explain.ts';
import type { StepProgress } from '../../common/pipeline-progress.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';

const spec = testPipeline('chain', [
  testStep('fetch', 'download', { cacheOffReason: 'no pinned sha256' }),
  testStep('subset', 'subset', { needs: ['fetch'], cache: true }),
  testStep('train', 'train', { needs: ['subset'], cache: true }),
  testStep('evaluate', 'evaluate', { needs: ['train'], cache: true }),
]);

function parts(change: Partial<CacheKeyParts> = {}): CacheKeyParts {
  return { uses: 'train', version: '3', code: 'c1', engine: 'wasm', params: 'p1', inputs: { trainManifest: 'sha256:aa', valManifest: 'sha256:bb' }, ...change };
}

function entry(stepId: string, key: string, workflowId: string, recordedAt: string, entryParts?: CacheKeyParts): CacheEntrySummary {
  return { key, workflowId, stepId, uses: spec.steps.find((step) => step.id === stepId)?.uses ?? '', recordedAt, ...(entryParts ? { parts: entryParts } : {}) };
}

function view(steps: Partial<StepProgress>[]): PipelineProgressView {
  return {
    workflowId: 'chain-now',
    pipeline: 'chain',
    specHash: 'spec-chain',
    state: 'succeeded',
    startedAt: '2026-12-02T10:00:00.000Z',
    steps: steps.map((step) => ({ id: '', uses: '', queue: 'cpu', state: 'succeeded', cached: false, startedAt: '2026-12-02T10:00:01.000Z', ...step })),
  };
}

describe('mlp cache explain', () => {
  it('says hit for a cached step, and for a miss which key parts changed since the previous entry of that step', () => {
    const run = view([
      { id: 'fetch', uses: 'download' },
      { id: 'subset', uses: 'subset', state: 'cached', cached: true, cacheKey: 'k-subset' },
      { id: 'train', uses: 'train', cacheKey: 'k-train-new' },
      { id: 'evaluate', uses: 'evaluate', cacheKey: 'k-eval-new' },
    ]);
    const entries = {
      subset: [entry('subset', 'k-subset', 'chain-old', '2026-12-01T09:00:00.000Z')],
      train: [
        // Written by this run itself, after it started: not what it could have hit.
        entry('train', 'k-train-new', 'chain-now', '2026-12-02T10:05:00.000Z', parts({ code: 'c2' })),
        entry('train', 'k-train-old', 'chain-old', '2026-12-01T09:01:00.000Z', parts()),
      ],
      evaluate: [],
    };
    const keyParts = new Map([['train', parts({ code: 'c2', inputs: { trainManifest: 'sha256:aa', valManifest: 'sha256:cc' } })]]);
    const steps = explainRun(spec, {}, run, keyParts, entries);
    assert.deepEqual(steps[0], { step: 'fetch', uses: 'download', status: 'cache-off', reason: 'no pinned sha256' });
    assert.deepEqual(steps[1], { step: 'subset', uses: 'subset', status: 'hit', key: 'k-subset', entry: { key: 'k-subset', workflowId: 'chain-old', recordedAt: '2026-12-01T09:00:00.000Z' } });
    assert.deepEqual(steps[2], {
      step: 'train', uses: 'train', status: 'miss', key: 'k-train-new', cause: 'changed', changed: ['code', 'inputs'], changedInputs: ['valManifest'],
      previous: { key: 'k-train-old', workflowId: 'chain-old', recordedAt: '2026-12-01T09:01:00.000Z' },
    });
    assert.deepEqual(steps[3], { step: 'evaluate', uses: 'evaluate', status: 'miss', key: 'k-eval-new', cause: 'first' });
    const text = formatExplanation({ workflowId: 'chain-now', pipeline: 'chain', steps });
    assert.match(text, /train {5}miss: code, inputs \(valManifest\) changed since the entry of run chain-old/);
    assert.match(text, /subset {4}hit \(entry of run chain-old/);
  });

  it('blames a refresh for the refreshed step and everything downstream, and a stale entry for its reason', () => {
    assert.deepEqual([...refreshedSteps(spec, ['subset'])].sort(), ['evaluate', 'subset', 'train']);
    const run = view([
      { id: 'fetch', uses: 'download' },
      { id: 'subset', uses: 'subset', cacheKey: 'k1' },
      { id: 'train', uses: 'train', cacheKey: 'k2' },
      { id: 'evaluate', uses: 'evaluate', cacheKey: 'k3' },
    ]);
    const refreshed = explainRun(spec, { refresh: ['train'] }, run, new Map(), {});
    assert.deepEqual(refreshed.map((step) => [step.step, step.status === 'miss' ? [step.cause, step.detail].filter(Boolean).join(': ') : step.status]), [
      ['fetch', 'cache-off'],
      ['subset', 'first'],
      ['train', 'refresh: refresh requested (--refresh)'],
      ['evaluate', 'refresh: downstream of a refreshed step'],
    ]);
    const stale = explainRun(spec, {}, view([{ id: 'subset', uses: 'subset', cacheKey: 'k1', cacheMiss: 'output trainManifest: artifact x is missing' }]), new Map(), {});
    assert.deepEqual(stale[1], { step: 'subset', uses: 'subset', status: 'miss', key: 'k1', cause: 'stale', detail: 'output trainManifest: artifact x is missing' });
  });

  it('compares with the newest earlier entry, preferring runs of the same pipeline', () => {
    const entries = [
      entry('train', 'k-other', 'other-pipeline-1', '2026-12-01T12:00:00.000Z'),
      entry('train', 'k-mine', 'chain-1', '2026-12-01T11:00:00.000Z'),
      entry('train', 'k-older', 'chain-0', '2026-12-01T10:00:00.000Z'),
    ];
    assert.equal(previousEntry(entries, 'chain', 'k-now', '2026-12-02T00:00:00.000Z')?.key, 'k-mine');
    assert.equal(previousEntry(entries, 'chain', 'k-mine', '2026-12-02T00:00:00.000Z')?.key, 'k-older');
    assert.equal(previousEntry(entries, 'nothing', 'k-now', '2026-12-01T10:30:00.000Z')?.key, 'k-older');
    assert.equal(previousEntry(entries, 'chain', 'k-now', '2026-12-01T09:00:00.000Z'), undefined);
  });
});
