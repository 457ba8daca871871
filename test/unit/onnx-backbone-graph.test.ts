import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { modelPreprocessing, ModelSchema, type ModelSpec } from '../../common/model-spec.ts';
import { preprocessImage } from '../../activities/data/preprocess.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { buildBackboneGraph, type BackboneGraph } from '../../activities/features/onnx/backbone-graph.ts';
import { preprocessGray } from '../../activities/training/input-preprocessing.ts';
import { buildModel } from '../../activities/training/model-builder.ts';
import { createModelPasses } from '../../activities/training/model-passes.ts';
import { CHEST_XRAY_224_DIR, MOBILENET_V1_DIR } from '../helpers/shared-assets.ts';

/** Runs a built graph on onnxruntime-node's CPU provider, from the same NHWC tensor tfjs gets. */
async function runOnnx(graph: BackboneGraph, x: tf.Tensor): Promise<tf.Tensor> {
  const session = await InferenceSession.create(graph.model);
  try {
    const feeds = { [graph.inputName]: new Tensor('float32', Float32Array.from(await x.data()), x.shape) };
    const output = (await session.run(feeds))[graph.outputName];
    assert.ok(output && output.data instanceof Float32Array, `ONNX output ${graph.outputName} is float32`);
    return tf.tensor(output.data, output.dims.map(Number));
  } finally {
    await session.release();
  }
}

async function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  assert.deepEqual(a.shape, b.shape);
  return (await tf.tidy(() => tf.max(tf.abs(tf.sub(a, b)))).data())[0] ?? NaN;
}

async function maxAbs(a: tf.Tensor): Promise<number> {
  return (await tf.tidy(() => tf.max(tf.abs(a))).data())[0] ?? NaN;
}

/**
 * Parity bound: 1e-4, relative to the features' magnitude once it exceeds 1. On MobileNet's
 * 7×7×768 features (ReLU6, up to 6) float32 summation order alone moves single values by ~2e-4:
 * tfjs' own folded and unfolded passes differ by 1.96e-4 on these X-rays, ORT and tfjs by 1.7e-4.
 * A wrong layout or padding is off by far more (0.61 for symmetric stride-2 pads).
 */
function tolerance(scale: number): number {
  return 1e-4 * Math.max(1, scale);
}

/** `perClass` real X-rays of each class, through the project's preprocessing, as one NHWC batch. */
async function realXrays(spec: ModelSpec, perClass: number): Promise<tf.Tensor4D> {
  const size = spec.inputSize;
  const pixels: Float32Array[] = [];
  for (const cls of ['NORMAL', 'PNEUMONIA']) {
    const dir = join(CHEST_XRAY_224_DIR, 'val', cls);
    for (const name of (await readdir(dir)).sort().slice(0, perClass)) {
      const gray = await preprocessImage(await readFile(join(dir, name)), { width: size, height: size, channels: 3, fit: 'fill' });
      pixels.push(preprocessGray(gray, 3, modelPreprocessing(spec)));
    }
  }
  const batch = new Float32Array(pixels.reduce((n, p) => n + p.length, 0));
  pixels.reduce((offset, p) => (batch.set(p, offset), offset + p.length), 0);
  return tf.tensor4d(batch, [pixels.length, size, size, 3]);
}

/**
 * The features `ModelPasses.frozenFeatures` computes in tfjs (batch-norm folded, as training
 * caches them) and the ONNX graph's, on the same images; returns the max abs difference.
 */
async function parity(spec: ModelSpec, perClass: number): Promise<{ difference: number; scale: number; graph: BackboneGraph; shape: number[] }> {
  const built = await buildModel(spec, { seed: 7 });
  const passes = createModelPasses(built, { cached: false, foldBatchNorm: true });
  const x = await realXrays(spec, perClass);
  try {
    const expected = tf.tidy(() => passes.frozenFeatures(x));
    const graph = buildBackboneGraph(built.backbone, passes.poolingKinds);
    const actual = await runOnnx(graph, x);
    const result = { difference: await maxAbsDifference(expected, actual), scale: await maxAbs(expected), graph, shape: expected.shape };
    tf.dispose([expected, actual]);
    return result;
  } finally {
    x.dispose();
    passes.dispose();
    built.model.dispose();
  }
}

function mobilenetSpec(pooling: 'flatten' | 'globalAveragePooling'): ModelSpec {
  return ModelSchema.parse({
    backbone: 'mobilenet_v1',
    weights: MOBILENET_V1_DIR,
    inputSize: 224,
    head: [{ type: pooling }, { type: 'dense', units: 2, activation: 'softmax' }],
  });
}

describe('buildBackboneGraph parity with the tfjs engine on real X-rays', () => {
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  for (const pooling of ['globalAveragePooling', 'flatten'] as const) {
    it(`gives MobileNet v1 0.75 features with ${pooling} within 1e-4 (relative) of frozenFeatures`, async function () {
      this.timeout(60_000);
      const { difference, scale, graph, shape } = await parity(mobilenetSpec(pooling), 2);
      assert.deepEqual(graph.inputShape, [null, 224, 224, 3]);
      assert.deepEqual(graph.outputShape, shape.slice(1));
      assert.deepEqual(graph.outputShape, pooling === 'flatten' ? [7 * 7 * 768] : [768]);
      assert.ok(scale > 1, `features are not trivially small (max ${scale})`);
      assert.ok(difference <= tolerance(scale), `max abs difference ${difference} (features up to ${scale})`);
    });
  }

  // 48 px keeps tfjs' VGG19 pass short and makes the last max-pooling floor an odd size (3 → 1).
  it('gives VGG19 notop features (random weights, 48 px) with flatten within 1e-4 (relative) of frozenFeatures', async function () {
    this.timeout(60_000);
    const spec = ModelSchema.parse({ backbone: 'vgg19', inputSize: 48, head: [{ type: 'flatten' }, { type: 'dense', units: 1, activation: 'sigmoid' }] });
    const { difference, scale, graph } = await parity(spec, 1);
    assert.deepEqual(graph.outputShape, [1 * 1 * 512]);
    assert.ok(scale > 1e-2, `features are not trivially small (max ${scale})`);
    assert.ok(difference <= tolerance(scale), `max abs difference ${difference} (features up to ${scale})`);
  });
});

describe('buildBackboneGraph content hash (the ONNX Runtime feature cache key)', () => {
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  /** Two conv layers with tfjs' generated names; `bump` changes one kernel value. */
  function backbone(bump = 0): tfl.LayersModel {
    const input = tfl.input({ shape: [8, 8, 3] });
    const conv1 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) });
    const conv2 = tfl.layers.conv2d({ filters: 2, kernelSize: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) });
    const model = tfl.model({ inputs: input, outputs: conv2.apply(conv1.apply(input)) as tfl.SymbolicTensor });
    if (bump !== 0) {
      const [kernel, bias] = conv1.getWeights();
      if (!kernel || !bias) throw new Error('conv1 has a kernel and a bias');
      const values = kernel.dataSync().slice();
      values[0] = (values[0] ?? 0) + bump;
      conv1.setWeights([tf.tensor(values, kernel.shape), bias]);
    }
    return model;
  }

  it('is the same for two loads of one backbone (whose layer names differ) and changes with a weight or the pooling', () => {
    const a = backbone();
    const b = backbone();
    assert.notEqual(a.layers[1]?.name, b.layers[1]?.name, 'tfjs numbers unnamed layers per load');
    const hashA = buildBackboneGraph(a, ['globalAveragePooling']).contentSha256;
    assert.equal(buildBackboneGraph(b, ['globalAveragePooling']).contentSha256, hashA);
    assert.notEqual(buildBackboneGraph(a, ['flatten']).contentSha256, hashA);
    const bumped = backbone(1e-3);
    assert.notEqual(buildBackboneGraph(bumped, ['globalAveragePooling']).contentSha256, hashA);
    for (const model of [a, b, bumped]) model.dispose();
  });
});
