import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { EngineCapabilityError, PipelineSpecError } from '../../common/errors.ts';
import { ModelSpecSchema, type ModelSpec } from '../../common/model-spec.ts';
import { selectEngine, type TrainingEngine } from '../../activities/engine/engine.ts';
import { serializeModel, WEIGHTS_FILE } from '../../activities/training/layers-model-io.ts';
import { buildModel } from '../../activities/training/model-builder.ts';
import { buildVgg19 } from '../../activities/training/vgg19.ts';

const MOBILENET = '/work/shared/models/mobilenet_v1_0.75_224';

/** The notebook's model: VGG19 (frozen) → Flatten → Dense 64/128/256/128 relu → Dense 2 softmax, RMSprop 2e-5. */
function notebookSpec(inputSize: number): ModelSpec {
  return ModelSpecSchema.parse({
    backbone: { name: 'vgg19', weights: 'none', inputSize, trainable: false },
    head: { pooling: 'flatten', dense: [{ units: 64 }, { units: 128 }, { units: 256 }, { units: 128 }], classes: 2 },
    optimizer: { name: 'rmsprop', learningRate: 2e-5 },
    loss: 'categorical_crossentropy',
    metrics: ['accuracy'],
  });
}

describe('buildModel', () => {
  let engine: TrainingEngine;
  before(async () => {
    engine = await selectEngine('wasm', { strict: true });
  });

  it('builds the notebook model at 224 px with the exact layers and parameter counts', async () => {
    const built = await buildModel(notebookSpec(224), { seed: 1, capabilities: engine.capabilities, engineName: engine.engine });
    try {
      assert.deepEqual(built.featureShape, [7, 7, 512]);
      assert.equal(built.frozenBackbone, true);
      assert.equal(built.backbone.countParams(), 20_024_384);
      assert.deepEqual(
        built.head.layers.map((layer) => [layer.name, layer.countParams()]),
        [
          ['head_flatten', 0],
          ['head_dense_1', 25_088 * 64 + 64],
          ['head_dense_2', 64 * 128 + 128],
          ['head_dense_3', 128 * 256 + 256],
          ['head_dense_4', 256 * 128 + 128],
          ['head_output', 128 * 2 + 2],
        ],
      );
      assert.equal(built.model.countParams(), 21_704_578);
      const trainable = built.model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
      assert.equal(trainable, 1_680_194);
      assert.deepEqual(built.model.outputs[0]?.shape, [null, 2]);
    } finally {
      built.model.dispose();
    }
  });

  it('runs the notebook model on a tiny input and gives class probabilities', async () => {
    const built = await buildModel(notebookSpec(32), { seed: 1 });
    try {
      assert.deepEqual(built.featureShape, [1, 1, 512]);
      const probabilities = tf.tidy(() => built.model.predict(tf.randomUniform([3, 32, 32, 3], 0, 1, 'float32', 7)) as tf.Tensor);
      assert.deepEqual(probabilities.shape, [3, 2]);
      const sums = await tf.sum(probabilities, 1).data();
      for (const sum of sums) assert.ok(Math.abs(sum - 1) < 1e-5);
      probabilities.dispose();
    } finally {
      built.model.dispose();
    }
  });

  it('loads VGG19 weights saved under Keras layer names from a path instead of initializing them', async function () {
    this.timeout(60_000);
    const source = buildVgg19(32, 99);
    const dir = await mkdtemp(join(tmpdir(), 'mlp-vgg19-'));
    try {
      const { modelJson, weights } = await serializeModel(source);
      await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
      await writeFile(join(dir, WEIGHTS_FILE), weights);
      const spec = { ...notebookSpec(32), backbone: { ...notebookSpec(32).backbone, weights: dir } };
      const built = await buildModel(spec, { seed: 1 });
      const loaded = await built.backbone.getLayer('block5_conv4').getWeights()[0]!.data();
      const expected = await source.getLayer('block5_conv4').getWeights()[0]!.data();
      assert.deepEqual(Array.from(loaded.slice(0, 1000)), Array.from(expected.slice(0, 1000)));
      built.model.dispose();
    } finally {
      source.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('loads mobilenet_v1 from disk and feeds 768 pooled features to the head', async function () {
    this.timeout(60_000);
    const spec = ModelSpecSchema.parse({
      backbone: { name: 'mobilenet_v1', weights: MOBILENET, inputSize: 224 },
      head: { pooling: 'gap', classes: 2 },
      optimizer: { name: 'adam', learningRate: 1e-3 },
    });
    const built = await buildModel(spec, { seed: 1, capabilities: engine.capabilities, engineName: engine.engine });
    try {
      assert.deepEqual(built.featureShape, [7, 7, 768]);
      assert.deepEqual(built.head.layers.map((l) => l.name), ['head_gap', 'head_output']);
      assert.equal(built.head.countParams(), 768 * 2 + 2);
      const features = tf.tidy(() => built.backbone.predict(tf.zeros([1, 224, 224, 3])) as tf.Tensor);
      assert.deepEqual(features.shape, [1, 7, 7, 768]);
      features.dispose();
    } finally {
      built.model.dispose();
    }
  });

  it('refuses to fine-tune mobilenet_v1 on wasm, naming the depthwise layer and the way out', async () => {
    const spec = ModelSpecSchema.parse({
      backbone: { name: 'mobilenet_v1', weights: MOBILENET, inputSize: 224, trainable: true },
      head: { pooling: 'gap', classes: 2 },
      optimizer: { name: 'adam', learningRate: 1e-3 },
    });
    await assert.rejects(buildModel(spec, { seed: 1, capabilities: engine.capabilities, engineName: 'wasm' }), (error: unknown) => {
      assert.ok(error instanceof EngineCapabilityError);
      assert.match(error.message, /trains depthwise convolution 'conv_dw_\d+'.*engine wasm cannot compute.*trainable: false/);
      return true;
    });
  });

  it('rejects a backbone input size that the stored model was not built for', async () => {
    const spec = ModelSpecSchema.parse({
      backbone: { name: 'mobilenet_v1', weights: MOBILENET, inputSize: 160 },
      head: { pooling: 'gap', classes: 2 },
      optimizer: { name: 'sgd', learningRate: 0.01 },
    });
    await assert.rejects(buildModel(spec, { seed: 1 }), PipelineSpecError);
  });
});
