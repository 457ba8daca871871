import assert from 'node:assert/strict';
import { ArtifactPathError } from '../../common/errors.ts';
import { declaredArtifacts, requireFound, resolveRequest } from '../../client/results/run-artifacts.ts';

const RUN = 'pneumonia-demo-a';
const steps = [
  {
    id: 'download',
    uses: 'download',
    state: 'succeeded',
    outputs: { datasetManifest: 'datasets/abc/manifest.json', datasetHash: 'abc', report: `runs/${RUN}/download/report.json`, classes: ['NORMAL', 'PNEUMONIA'] },
  },
  // A cache hit: its files are in the folder of the run that wrote them.
  {
    id: 'evaluate',
    uses: 'evaluate',
    state: 'cached',
    outputs: {
      metrics: { auc: 0.9 },
      metricsKey: 'runs/older/evaluate/metrics.json',
      predictions: 'runs/older/evaluate/predictions.json',
      report: 'runs/older/evaluate/report.md',
      plots: { roc: 'runs/older/evaluate/plots/roc-curve.png', curves: 'runs/older/evaluate/plots/training-curves.png' },
      threshold: 0.5,
    },
  },
  {
    id: 'fit',
    uses: 'run',
    state: 'succeeded',
    outputs: {
      model: `runs/${RUN}/fit/outputs/model/`,
      predictions: `runs/${RUN}/fit/outputs/predictions.csv`,
      metrics: { auc: 0.8 },
      artifacts: {
        model: { type: 'directory', key: `runs/${RUN}/fit/outputs/model/`, sha256: 'a'.repeat(64), bytes: 2048 },
        predictions: { type: 'file', key: `runs/${RUN}/fit/outputs/predictions.csv`, sha256: 'b'.repeat(64), bytes: 10 },
      },
    },
  },
  { id: 'publish', uses: 'publish', state: 'succeeded', outputs: { version: 1, prefix: 'models/x/1/', promoted: true, reason: 'ok' } },
  { id: 'later', uses: 'evaluate', state: 'pending' },
];

describe('run artifacts: what steps declared and how mlp artifacts get names them', () => {
  const artifacts = declaredArtifacts(steps);

  it('lists the outputs each kind declares as artifacts, and nothing else', () => {
    assert.deepEqual(
      artifacts.map((artifact) => [artifact.step, artifact.output, artifact.path]),
      [
        ['download', 'datasetManifest', 'download/datasets/abc/manifest.json'],
        ['download', 'report', 'download/report.json'],
        ['evaluate', 'metricsKey', 'evaluate/metrics.json'],
        ['evaluate', 'predictions', 'evaluate/predictions.json'],
        ['evaluate', 'report', 'evaluate/report.md'],
        ['evaluate', 'plots.roc', 'evaluate/plots/roc-curve.png'],
        ['evaluate', 'plots.curves', 'evaluate/plots/training-curves.png'],
        ['fit', 'artifacts.model', 'fit/outputs/model'],
        ['fit', 'artifacts.predictions', 'fit/outputs/predictions.csv'],
      ],
    );
  });

  it("takes a run step's folders, sizes and hashes from its artifacts record", () => {
    const model = artifacts.find((artifact) => artifact.output === 'artifacts.model');
    assert.deepEqual(model, { step: 'fit', uses: 'run', output: 'artifacts.model', key: `runs/${RUN}/fit/outputs/model/`, folder: true, sha256: 'a'.repeat(64), bytes: 2048, path: 'fit/outputs/model' });
  });

  it('resolves a step, a folder and a file to the folder the step wrote in, a cache hit’s included', () => {
    assert.deepEqual(resolveRequest('evaluate', steps, artifacts, RUN).targets, ['runs/older/evaluate/']);
    assert.deepEqual(resolveRequest('evaluate/plots/', steps, artifacts, RUN).targets, ['runs/older/evaluate/plots']);
    assert.deepEqual(resolveRequest('fit/outputs/predictions.csv', steps, artifacts, RUN).targets, [`runs/${RUN}/fit/outputs/predictions.csv`]);
    assert.deepEqual(resolveRequest('download/datasets/abc/manifest.json', steps, artifacts, RUN).targets, ['datasets/abc/manifest.json']);
  });

  it('refuses paths that leave the step’s folder, unknown steps and steps that wrote nothing', () => {
    for (const request of ['evaluate/../../other/evaluate/report.md', '/runs/x', 'evaluate/./report.md', '..', 'evaluate\\report.md']) {
      assert.throws(() => resolveRequest(request, steps, artifacts, RUN), (error: unknown) => error instanceof ArtifactPathError && /outside the run/.test(error.message), request);
    }
    // Another dataset's manifest is not the download step's: it is looked for in the step's own folder.
    assert.deepEqual(resolveRequest('download/datasets/other/manifest.json', steps, artifacts, RUN).targets, [`runs/${RUN}/download/datasets/other/manifest.json`]);
    assert.throws(() => resolveRequest('nosuch/x', steps, artifacts, RUN), /has no step "nosuch" \(its steps: download, evaluate, fit, publish, later\)/);
    assert.throws(() => resolveRequest('publish', steps, artifacts, RUN), /Step "publish" of run pneumonia-demo-a wrote nothing: a publish step declares no artifacts/);
    assert.throws(() => resolveRequest('later', steps, artifacts, RUN), /Step "later" of run pneumonia-demo-a wrote nothing: it has no outputs \(state: pending\)/);
  });

  it('says so when nothing is stored where a request points', () => {
    const resolved = resolveRequest('evaluate/nothing.txt', steps, artifacts, RUN);
    assert.throws(() => requireFound(resolved, [{ target: 'runs/older/evaluate/nothing.txt', folder: true, objects: [] }], RUN), /Nothing is stored at evaluate\/nothing\.txt/);
  });
});
