import assert from 'node:assert/strict';
import { loadPipelineFile } from '../../client/pipelines/pipeline-file.ts';
import { ModelSchema } from '../../common/model-spec.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { buildModel } from '../../activities/training/model-builder.ts';

describe('the notebook pipeline (pipelines/pneumonia-vgg19.yaml)', () => {
  it('validates and builds the notebook model: VGG19 frozen, Flatten, Dense 64/128/256/128 relu, Dense 2 softmax', async function () {
    this.timeout(60_000);
    const engine = await selectEngine('wasm', { strict: true });
    const { resolved } = await loadPipelineFile('pipelines/pneumonia-vgg19.yaml');
    const train = resolved.steps.find((step) => step.id === 'train-partial');
    assert.ok(train);
    const spec = ModelSchema.parse(train.with['model']);
    assert.equal(spec.weights, 'keras:vgg19');
    // The notebook's RMSprop 2e-5 is the first trial of the learning-rate sweep (the tie winner).
    assert.deepEqual(train.with['optimizer'], { name: 'rmsprop', learningRate: '${{ matrix.learningRate }}' });
    assert.deepEqual(train.sweep?.trials[0]?.matrix, { learningRate: 2e-5 });
    assert.equal(train.with['loss'], 'categoricalCrossentropy');

    // Keras' ImageNet VGG19 file is not reachable offline: same architecture, random init.
    const built = await buildModel({ ...spec, weights: undefined }, { seed: 1, capabilities: engine.capabilities, engineName: engine.engine });
    try {
      assert.equal(spec.inputSize, 300);
      assert.deepEqual(built.featureShape, [9, 9, 512]);
      assert.equal(built.frozenBackbone, true);
      assert.deepEqual(
        built.backbone.layers.filter((l) => l.weights.length > 0).map((l) => l.name),
        ['block1_conv1', 'block1_conv2', 'block2_conv1', 'block2_conv2', ...[3, 4, 5].flatMap((b) => [1, 2, 3, 4].map((c) => `block${b}_conv${c}`))],
      );
      assert.equal(built.backbone.countParams(), 20_024_384);
      assert.deepEqual(
        built.head.layers.map((layer) => [layer.getClassName(), layer.countParams()]),
        [
          ['Flatten', 0],
          ['Dense', 9 * 9 * 512 * 64 + 64],
          ['Dense', 64 * 128 + 128],
          ['Dense', 128 * 256 + 256],
          ['Dense', 256 * 128 + 128],
          ['Dense', 128 * 2 + 2],
        ],
      );
      assert.equal(built.model.countParams(), 22_753_154);
    } finally {
      built.model.dispose();
    }
  });
});
