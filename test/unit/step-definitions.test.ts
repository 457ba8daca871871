import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ObjectStore } from '../../activities/object-store.ts';
import { createStepActivities } from '../../activities/steps/index.ts';
import { STEP_ACTIVITY_NAMES, type StepContext } from '../../common/step-activities.ts';
import { STEP_KINDS } from '../../common/step-kinds/index.ts';

// Parsing fails before any storage call; the store only satisfies the factory's signature.
const deps = {
  store: new ObjectStore({ endpoint: 'http://127.0.0.1:1', region: 'us-east-1', bucket: 'unused', accessKeyId: 'x', secretAccessKey: 'y' }),
  scratchDir: '.',
};
const context: StepContext = { pipeline: 'p', workflowId: 'wf', stepId: 'sample', runPrefix: 'runs/wf/sample/' };

describe('step definitions', () => {
  it('keeps the activity names that saved histories replay against', () => {
    assert.deepEqual(STEP_ACTIVITY_NAMES, {
      noop: 'noop',
      download: 'downloadDataset',
      subset: 'subsetDataset',
      train: 'trainModel',
      evaluate: 'evaluateModel',
      publish: 'publishModel',
      run: 'runUserCode',
    });
  });

  it('registers one activity per step kind, under the name the kind declares', () => {
    const activities = createStepActivities(deps);
    assert.deepEqual(Object.keys(activities).sort(), STEP_KINDS.map((kind) => kind.activity).sort());
    assert.equal(new Set(STEP_KINDS.map((kind) => kind.activity)).size, STEP_KINDS.length, 'activity names are distinct');
  });

  it('rejects bad inputs of any step in one format naming the step and the field', async () => {
    const { subsetDataset } = createStepActivities(deps);
    await assert.rejects(
      new MockActivityEnvironment().run(subsetDataset, { datasetManifest: 'datasets/x/manifest.json', fractions: { train: 2, val: 0.1 } }, context),
      {
        name: 'PipelineSpecError',
        message: [
          'Invalid inputs of subset step "sample": ✖ Invalid input: expected number, received undefined',
          '  → at imageSize',
          '✖ Too big: expected number to be <=1',
          '  → at fractions.train',
        ].join('\n'),
      },
    );
  });
});
