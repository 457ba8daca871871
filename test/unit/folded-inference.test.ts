import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ModelSchema } from '../../common/model-spec.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { foldedInference } from '../../activities/model-io/folded-inference.ts';
import { buildModel } from '../../activities/training/model-builder.ts';
import { MOBILENET_V1_DIR } from '../helpers/shared-assets.ts';

async function maxRelativeDifference(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const [diff = NaN, scale = NaN] = await tf.tidy(() => tf.stack([tf.max(tf.abs(tf.sub(a, b))), tf.max(tf.abs(a))])).data();
  return diff / scale;
}

/** conv → BN → ReLU6, depthwise → BN → ReLU, conv → BN (no activation): every folding case. */
function convBnChain(): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 9, 3] });
  const layers: tfl.layers.Layer[] = [
    tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
    tfl.layers.batchNormalization({}),
    tfl.layers.reLU({ maxValue: 6 }),
    tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'valid', depthwiseInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
    tfl.layers.batchNormalization({}),
    tfl.layers.activation({ activation: 'relu' }),
    tfl.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
    tfl.layers.batchNormalization({}),
  ];
  let x: tfl.SymbolicTensor = input;
  for (const layer of layers) x = layer.apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: x });
  // Non-trivial statistics so that folding has something to fold.
  for (const [i, layer] of model.layers.entries()) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const n = layer.getWeights()[0]?.shape[0] ?? 0;
    layer.setWeights([0, 1, 2, 3].map((k) => tf.randomUniform([n], k === 3 ? 0.5 : -1, k === 3 ? 2 : 1, 'float32', i * 10 + k)));
  }
  return model;
}

describe('foldedInference', () => {
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  it('folds conv and depthwise-conv batch-norm pairs and matches the unfolded chain within 1e-5', async () => {
    const model = convBnChain();
    const folded = foldedInference(model);
    const x = tf.randomUniform([2, 9, 9, 3], -1, 1, 'float32', 5);
    const expected = model.predict(x) as tf.Tensor;
    const before = tf.memory().numTensors;
    const actual = tf.tidy(() => folded.run(x));
    assert.equal(tf.memory().numTensors, before + 1);
    assert.equal(folded.folded, 3);
    assert.deepEqual(actual.shape, expected.shape);
    assert.ok((await maxRelativeDifference(expected, actual)) < 1e-5);
    folded.dispose();
    tf.dispose([x, expected, actual]);
    model.dispose();
  });

  it('keeps a dilated convolution dilated when folding its batch-norm', async () => {
    const input = tfl.input({ shape: [11, 11, 2] });
    const conv = tfl.layers.conv2d({ filters: 3, kernelSize: 3, dilationRate: 2, padding: 'same', kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) });
    const norm = tfl.layers.batchNormalization({});
    const model = tfl.model({ inputs: input, outputs: norm.apply(conv.apply(input)) as tfl.SymbolicTensor });
    norm.setWeights([0, 1, 2, 3].map((k) => tf.randomUniform([3], k === 3 ? 0.5 : -1, k === 3 ? 2 : 1, 'float32', 20 + k)));
    const folded = foldedInference(model);
    const x = tf.randomUniform([2, 11, 11, 2], -1, 1, 'float32', 6);
    const expected = model.predict(x) as tf.Tensor;
    const actual = tf.tidy(() => folded.run(x));
    assert.equal(folded.folded, 1);
    // Folded as an undilated 3×3 conv, the output differs by about its own size.
    assert.ok((await maxRelativeDifference(expected, actual)) < 1e-5);
    folded.dispose();
    tf.dispose([x, expected, actual]);
    model.dispose();
  });

  it('gives MobileNet v1 features within 1e-4 of the unfolded model, folding all 27 blocks', async function () {
    this.timeout(30_000);
    const built = await buildModel(
      ModelSchema.parse({
        backbone: 'mobilenet_v1',
        weights: MOBILENET_V1_DIR,
        inputSize: 224,
        head: [{ type: 'globalAveragePooling' }, { type: 'dense', units: 2, activation: 'softmax' }],
      }),
      { seed: 1 },
    );
    const folded = foldedInference(built.backbone);
    const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 3);
    const expected = built.backbone.predict(x) as tf.Tensor;
    const actual = tf.tidy(() => folded.run(x));
    assert.equal(folded.folded, 27);
    assert.ok((await maxRelativeDifference(expected, actual)) < 1e-4);
    folded.dispose();
    tf.dispose([x, expected, actual]);
    built.model.dispose();
  });
});
