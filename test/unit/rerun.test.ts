import assert from 'node:assert/strict';
import { artifactKeys } from '../../activities/step-reuse.ts';
import { paramSettings, planRerun, rerunStart, type RecordedRun } from '../../client/pipelines/rerun.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';

// download → subset → train → evaluate → publish, plus a side branch `report` after subset.
const spec = testPipeline('shape', [
  testStep('download', 'download', { with: { url: 'https://example.org/x.zip' } }),
  testStep('subset', 'subset', { needs: ['download'], with: { datasetManifest: '${{ steps.download.outputs.manifest }}' } }),
  testStep('train', 'train', { needs: ['subset'], with: { epochs: 2 } }),
  testStep('evaluate', 'evaluate', { needs: ['train'] }),
  testStep('publish', 'publish', { needs: ['evaluate'] }),
  testStep('report', 'noop', { needs: ['subset'] }),
]);

function finished(state: RecordedRun['state'], states: Record<string, RecordedRun['steps'][number]['state']>): RecordedRun {
  return {
    workflowId: 'shape-1',
    state,
    steps: spec.steps.map((step) => {
      const stepState = states[step.id] ?? 'succeeded';
      return { id: step.id, state: stepState, ...(['succeeded', 'cached', 'reused'].includes(stepState) ? { outputs: { key: `runs/shape-1/${step.id}/out.json` } } : {}) };
    }),
  };
}

describe('mlp rerun planning', () => {
  it('--from train after a finished run executes train and everything downstream, reusing the rest (side branches too)', () => {
    const plan = planRerun(spec, spec, finished('succeeded', {}), { from: 'train' });
    assert.deepEqual(plan.from, ['train']);
    assert.deepEqual(plan.execute, ['train', 'evaluate', 'publish']);
    assert.deepEqual(Object.keys(plan.reuse), ['download', 'subset', 'report']);
    assert.deepEqual(plan.reuse['subset'], { key: 'runs/shape-1/subset/out.json' });
  });

  it('--failed starts from the failed step and runs the steps the failure cancelled or never started', () => {
    const run = finished('failed', { train: 'failed', report: 'cancelled', evaluate: 'cancelled', publish: 'cancelled' });
    const plan = planRerun(spec, spec, run, { failed: true });
    assert.deepEqual(plan.from, ['train']);
    assert.deepEqual(plan.execute, ['train', 'evaluate', 'publish', 'report']);
    assert.deepEqual(Object.keys(plan.reuse), ['download', 'subset']);
  });

  it('reuses cache hits and steps an earlier rerun reused, like steps that ran', () => {
    const plan = planRerun(spec, spec, finished('succeeded', { download: 'cached', subset: 'reused' }), { from: 'evaluate' });
    assert.deepEqual(Object.keys(plan.reuse), ['download', 'subset', 'train', 'report']);
  });

  it('a step whose inputs changed (--set) runs again with everything after it, even upstream of --from', () => {
    const changed = testPipeline('shape', spec.steps.map((step) => (step.id === 'subset' ? { ...step, with: { ...step.with, perClass: 5 } } : step)));
    const plan = planRerun(spec, changed, finished('succeeded', {}), { from: 'publish' });
    assert.deepEqual(plan.from, ['publish', 'subset']);
    assert.deepEqual(plan.execute, ['subset', 'train', 'evaluate', 'publish', 'report']);
    assert.deepEqual(Object.keys(plan.reuse), ['download']);
  });

  it('names the unknown step and lists the real ones', () => {
    assert.throws(() => planRerun(spec, spec, finished('succeeded', {}), { from: 'trian' }), /--from trian: pipeline "shape" has no such step \(steps: download, subset, train, evaluate, publish, report\)/);
  });

  it('refuses --failed on a run that did not fail, saying what it did', () => {
    assert.throws(() => planRerun(spec, spec, finished('succeeded', {}), { failed: true }), /--failed, but the run did not fail \(it succeeded\); use --from <step>/);
    assert.throws(() => planRerun(spec, spec, finished('cancelled', {}), { failed: true }), /did not fail \(it was cancelled\)/);
    assert.throws(() => planRerun(spec, spec, finished('failed', {}), { failed: true }), /no step failed \(the run was terminated or timed out\)/);
  });

  it('takes exactly one of --from and --failed', () => {
    assert.throws(() => rerunStart({ from: 'train', failed: true }), /either --from <step> or --failed, not both/);
    assert.throws(() => rerunStart({}), /--from <step> or --failed/);
    assert.deepEqual(rerunStart({ from: 'train' }), { from: 'train' });
    assert.deepEqual(rerunStart({ failed: true }), { failed: true });
  });

  it('turns recorded params back into --set arguments that re-resolve to the same values', () => {
    assert.deepEqual(paramSettings({ epochs: 3, lr: 0.001, augment: false, engine: 'wasm' }), ['epochs=3', 'lr=0.001', 'augment=false', 'engine=wasm']);
  });
});

describe('artifacts of reused outputs', () => {
  it('are the object keys under runs/, datasets/ and models/, nested ones included; other strings are not', () => {
    const outputs = {
      trainManifest: 'datasets/abc/train.json',
      plots: { roc: 'runs/wf/evaluate/roc.svg', pr: 'runs/wf/evaluate/pr.svg' },
      histories: ['runs/wf/train/h0.json'],
      model: 'models/pneumonia/3/model.json',
      metrics: { auc: 0.9 },
      engine: 'wasm',
      stepId: 'runs-not-a-key',
    };
    assert.deepEqual(artifactKeys(outputs), [
      'datasets/abc/train.json',
      'runs/wf/evaluate/roc.svg',
      'runs/wf/evaluate/pr.svg',
      'runs/wf/train/h0.json',
      'models/pneumonia/3/model.json',
    ]);
  });
});
