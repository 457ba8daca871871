import assert from 'node:assert/strict';
import { renderMarkdown } from '../../client/results/markdown-html.ts';
import { compareRuns } from '../../client/results/run-compare.ts';
import { formatComparison, renderComparison } from '../../client/results/run-compare-format.ts';
import { describeExecution, type RunReport } from '../../client/results/run-report.ts';
import { renderRunReport } from '../../client/results/run-report-html.ts';
import type { LoadedRun } from '../../client/results/run-results.ts';
import type { RunView } from '../../client/runs/run-view.ts';

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ab0f5c1c0000000049454e44ae426082', 'hex');
const HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>';

function report(overrides: Partial<RunReport> = {}): RunReport {
  return {
    workflowId: 'pneumonia-demo-a',
    runId: 'r1',
    pipeline: 'pneumonia-demo',
    status: 'COMPLETED',
    state: 'succeeded',
    inProgress: false,
    startedAt: '2026-12-07T10:00:00.000Z',
    endedAt: '2026-12-07T10:01:30.000Z',
    seconds: 90,
    url: 'http://localhost:8233/namespaces/default/workflows/pneumonia-demo-a/r1',
    specHash: 'f'.repeat(64),
    params: { seed: 7, note: HOSTILE },
    steps: [{ id: 'evaluate', uses: 'evaluate', state: 'failed', attempt: 2, seconds: 3, execution: 'ran (cache miss)', error: `EvaluationError: ${HOSTILE}` }],
    headline: { step: 'evaluate', metrics: { auc: 0.98251, accuracy: 0.9 } },
    evaluations: [
      {
        step: 'evaluate',
        metrics: { auc: 0.98251, accuracy: 0.9 },
        reportKey: 'runs/a/evaluate/report.md',
        markdown: '# Report\n\n![ROC](plots/roc-curve.png)\n',
        plots: [
          { name: 'roc', key: 'runs/a/evaluate/plots/roc-curve.png' },
          { name: 'confusion', key: 'runs/a/evaluate/plots/confusion-matrix.png' },
        ],
      },
    ],
    sweeps: [{ step: 'train', select: { metric: 'valLoss', goal: 'min' }, trials: [{ index: 0, matrix: { learningRate: HOSTILE }, state: 'succeeded', metric: 0.3, selected: true }] }],
    publications: [],
    lineage: { code: {} },
    generatedAt: '2026-12-07T10:02:00.000Z',
    ...overrides,
  };
}

const objects = new Map([
  ['runs/a/evaluate/plots/roc-curve.png', PNG],
  ['runs/a/evaluate/plots/confusion-matrix.png', PNG],
]);

describe('mlp report and compare pages: self-contained and safe', () => {
  it('renders report.md with its plots inlined and shows the plots it does not reference after it', () => {
    const html = renderRunReport({ report: report(), objects });
    const images = html.match(/<img src="data:image\/png;base64,[A-Za-z0-9+/=]+" alt="[^"]*">/g) ?? [];
    assert.equal(images.length, 2, 'the ROC plot from the markdown and the confusion matrix after it, each once');
    assert.ok(html.includes('alt="ROC"') && html.includes('alt="confusion"'));
    assert.ok(!/src="(?!data:)/.test(html), 'no image is loaded from elsewhere');
    assert.ok(html.includes('data-metric="auc" data-value="0.98251"><div class="name">auc</div><div class="value">0.9825</div>'));
  });

  it('escapes every value from the run: params, errors, matrix values', () => {
    const html = renderRunReport({ report: report(), objects });
    assert.ok(!html.includes('<script>') && !html.includes('<img src=x'), 'no markup from the run survives');
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;'));
  });

  it('shows raw HTML in report.md as text, drops script links and images from elsewhere', () => {
    const markdown = `${HOSTILE}\n\n[click](javascript:alert(3)) [docs](https://example.org/a?b=1&c=2)\n\n![remote](https://evil.example/x.png) ![missing](plots/none.png) ![up](../../other/x.png)\n\n| a |\n|---|\n| <b>x</b> |\n`;
    const { html, shownImages } = renderMarkdown(markdown, 'runs/a/evaluate/report.md', objects);
    assert.ok(!html.includes('<script') && !html.includes('<img src=x') && !html.includes('<b>'));
    assert.ok(!html.includes('javascript:'), html);
    assert.ok(html.includes('<a href="https://example.org/a?b=1&amp;c=2" rel="noreferrer">docs</a>'));
    assert.ok(!html.includes('evil.example/x.png"'), 'remote images are not loaded');
    assert.match(html, /\[missing\]/);
    assert.deepEqual(shownImages, []);
  });

  it('marks a run in progress as such', () => {
    const html = renderRunReport({ report: report({ inProgress: true, status: 'RUNNING', state: 'running', endedAt: undefined, seconds: undefined }), objects });
    assert.match(html, /id="in-progress">Run in progress: this report shows what exists at 2026-12-07T10:02:00.000Z/);
    assert.match(html, /<title>pneumonia-demo pneumonia-demo-a \(in progress\)<\/title>/);
    assert.ok(!renderRunReport({ report: report(), objects }).includes('in-progress'));
  });

  it('compares runs: only differing params are listed as such, metrics with their difference from the first run', () => {
    const loaded = (workflowId: string, seed: number, auc: number): LoadedRun => ({
      view: {
        workflowId,
        runId: `${workflowId}-run`,
        pipeline: 'pneumonia-demo',
        status: 'COMPLETED',
        state: 'succeeded',
        startedAt: '2026-12-07T10:00:00.000Z',
        specHash: 'x',
        steps: [
          { id: 'train', uses: 'train', queue: 'cpu', state: 'succeeded', cached: false, outputs: { finalMetrics: { valLoss: 0.5 } } },
          { id: 'evaluate', uses: 'evaluate', queue: 'cpu', state: 'succeeded', cached: false, outputs: { metrics: { auc } } },
        ],
        taskQueue: 'q',
        source: 'history',
        metrics: {},
        artifacts: [],
        reports: {},
      } satisfies RunView,
      start: { workflowType: 'runPipeline', spec: { apiVersion: 'mlp/v1', name: 'pneumonia-demo', specHash: 'x', params: { seed, epochs: 2, name: HOSTILE }, steps: [] }, options: {} },
    });
    const comparison = compareRuns([loaded('a', 1, 0.9), loaded('b', 2, 0.95)]);
    assert.deepEqual(comparison.differingParams, ['seed']);
    const auc = comparison.metrics.find((row) => row.name === 'evaluate.auc');
    assert.deepEqual(auc?.values, [0.9, 0.95]);
    assert.ok(Math.abs((auc?.deltas[1] ?? 0) - 0.05) < 1e-12);
    const text = formatComparison(comparison);
    assert.match(text, /params that differ\n\s+seed\s+1\s+2\n/);
    assert.match(text, /evaluate\.auc\s+0\.9000\s+0\.9500\s+\+0\.0500/);
    assert.match(text, /train\.valLoss\s+0\.5000\s+0\.5000\s+0/);
    const html = renderComparison(comparison, [{ workflowId: 'a', epochs: [{ epoch: 1, loss: 1 }, { epoch: 2, loss: 0.5 }], roc: [{ fpr: 0, tpr: 0 }, { fpr: 1, tpr: 1 }], auc: 0.9 }, { workflowId: 'b' }], (id) => `http://ui/${id}`);
    assert.ok(!html.includes('<script>'));
    assert.equal((html.match(/<svg /g) ?? []).length, 2, 'training loss and ROC (no run has a validation loss history)');
  });
});

describe('mlp report: how each step came by its outputs', () => {
  it('says cache hit, reused, ran again and why, or whether the cache was off', () => {
    assert.equal(describeExecution({ state: 'cached', cached: true }, true), 'cache hit');
    assert.equal(describeExecution({ state: 'reused', cached: false, reusedFrom: 'p-a/r1' }, true), 'reused from p-a/r1');
    assert.equal(describeExecution({ state: 'succeeded', cached: false, cacheMiss: 'cache entry of run p-a not used: output model: artifact x is missing' }, true), 'ran again: cache entry of run p-a not used: output model: artifact x is missing');
    assert.equal(describeExecution({ state: 'succeeded', cached: false, reuseMiss: 'upstream step "train" ran again' }, true), 'ran again: upstream step "train" ran again');
    assert.equal(describeExecution({ state: 'succeeded', cached: false }, false, 'the source can change under the same URL'), 'ran (cache off: the source can change under the same URL)');
    assert.equal(describeExecution({ state: 'succeeded', cached: false }, true), 'ran (cache miss)');
    assert.equal(describeExecution({ state: 'cancelled', cached: false }, true), 'not started (run ended)');
  });
});
