import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { EngineCapabilityError, PipelineSpecError } from '../../common/errors.ts';
import { ModelSchema, type ModelSpec } from '../../common/model-spec.ts';
import { selectEngine, type TrainingEngine } from '../../activities/engine/engine.ts';
import { serializeModel, WEIGHTS_FILE } from '../../activities/model-io/layers-model-io.ts';
import { buildModel } from '../../activities/training/model-builder.ts';
import { buildVgg19 } from '../../activities/training/vgg19.ts';
import { MOBILENET_V1_DIR } from '../helpers/shared-assets.ts';

const MOBILENET = MOBILENET_V1_DIR;

/** The notebook's model: VGG19 (frozen) → Flatten → Dense 64/128/256/128 relu → Dense 2 softmax. */
function notebookSpec(inputSize: number): ModelSpec {
  return ModelSchema.parse({
    backbone: 'vgg19',
    inputSize,
    trainable: false,
    head: [
      { type: 'flatten' },
      { type: 'dense', units: 64, activation: 'relu' },
      { type: 'dense', units: 128, activation: 'relu' },
      { type: 'dense', units: 256, activation: 'relu' },
      { type: 'dense', units: 128, activation: 'relu' },
      { type: 'dense', units: 2, activation: 'softmax' },
    ],
  });
}

function mobilenetSpec(overrides: Partial<ModelSpec> = {}): ModelSpec {
  return ModelSchema.parse({
    backbone: 'mobilenet_v1',
    weights: MOBILENET,
    inputSize: 224,
    head: [{ type: 'globalAveragePooling' }, { type: 'dense', units: 2, activation: 'softmax' }],
    ...overrides,
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
          ['head_1_flatten', 0],
          ['head_2_dense', 25_088 * 64 + 64],
          ['head_3_dense', 64 * 128 + 128],
          ['head_4_dense', 128 * 256 + 256],
          ['head_5_dense', 256 * 128 + 128],
          ['head_6_dense', 128 * 2 + 2],
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
      const spec = { ...notebookSpec(32), weights: dir };
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
    const built = await buildModel(mobilenetSpec(), { seed: 1, capabilities: engine.capabilities, engineName: engine.engine });
    try {
      assert.deepEqual(built.featureShape, [7, 7, 768]);
      assert.deepEqual(built.head.layers.map((l) => l.name), ['head_1_globalAveragePooling', 'head_2_dense']);
      assert.equal(built.head.countParams(), 768 * 2 + 2);
      const features = tf.tidy(() => built.backbone.predict(tf.zeros([1, 224, 224, 3])) as tf.Tensor);
      assert.deepEqual(features.shape, [1, 7, 7, 768]);
      features.dispose();
    } finally {
      built.model.dispose();
    }
  });

  it('refuses to fine-tune mobilenet_v1 on an engine without depthwise-conv gradients, naming the depthwise layer and the way out', async () => {
    const capabilities = { ...engine.capabilities, depthwiseConvGrad: false };
    await assert.rejects(buildModel(mobilenetSpec({ trainable: true }), { seed: 1, capabilities, engineName: 'tfjs-node' }), (error: unknown) => {
      assert.ok(error instanceof EngineCapabilityError);
      assert.match(error.message, /trains depthwise convolution 'conv_dw_\d+'.*engine tfjs-node cannot compute.*trainable: false/);
      return true;
    });
  });

  it('rejects a backbone input size that the stored model was not built for', async () => {
    await assert.rejects(buildModel(mobilenetSpec({ inputSize: 160 }), { seed: 1 }), PipelineSpecError);
  });

  it('fine-tunes mobilenet_v1 from a named layer on, depthwise layers included, on wasm', async () => {
    const built = await buildModel(mobilenetSpec({ trainable: { from: 'conv_dw_13' } }), { seed: 1, capabilities: engine.capabilities, engineName: 'wasm' });
    try {
      assert.equal(built.frozenBackbone, false);
      assert.deepEqual(built.backbone.layers.filter((l) => l.trainable && l.weights.length > 0).map((l) => l.name), ['conv_dw_13', 'conv_dw_13_bn', 'conv_pw_13', 'conv_pw_13_bn']);
    } finally {
      built.model.dispose();
    }
  });

  it('accepts model.trainable { from: <layer> } in the spec, and refuses an empty name or from mixed with lastN', () => {
    assert.deepEqual(mobilenetSpec({ trainable: { from: 'conv_dw_12' } }).trainable, { from: 'conv_dw_12' });
    assert.throws(() => mobilenetSpec({ trainable: { from: '' } }));
    assert.throws(() => ModelSchema.parse({ ...mobilenetSpec(), trainable: { from: 'conv_dw_12', lastN: 2 } }));
  });

  it('rejects model.trainable.from naming no layer of the feature extractor, listing the nearest names and the valid range', async () => {
    const before = tf.memory().numTensors;
    for (const [from, nearest] of [
      ['conv_dw_133', /nearest names: conv_dw_13, conv_dw_1, conv_dw_3/],
      ['conv_preds', /nearest names: conv1_relu, conv_pw_1, /],
    ] as const) {
      await assert.rejects(buildModel(mobilenetSpec({ trainable: { from } }), { seed: 1 }), (error: unknown) => {
        assert.ok(error instanceof PipelineSpecError);
        assert.match(error.message, new RegExp(`model\\.trainable\\.from names '${from}', which is not a layer of the mobilenet_v1 feature extractor \\(its layers run from 'conv1' to the feature layer 'conv_pw_13_relu'\\)`));
        assert.match(error.message, nearest);
        return true;
      });
    }
    assert.equal(tf.memory().numTensors, before, 'the loaded backbone is freed');
  });

  it('fine-tunes only the last N weighted mobilenet_v1 layers, which wasm can train when they hold no depthwise conv', async () => {
    const built = await buildModel(mobilenetSpec({ trainable: { lastN: 2 } }), { seed: 1, capabilities: engine.capabilities, engineName: 'wasm' });
    try {
      assert.equal(built.frozenBackbone, false);
      assert.deepEqual(built.backbone.layers.filter((l) => l.trainable && l.weights.length > 0).map((l) => l.name), ['conv_pw_13', 'conv_pw_13_bn']);
    } finally {
      built.model.dispose();
    }
  });
});
