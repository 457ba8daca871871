import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { z } from 'zod';
import type { PoolingKind } from '../../activities/features/pooling.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { buildBackboneGraph, UnsupportedLayerError, type BackboneGraph } from '../../activities/features/onnx/backbone-graph.ts';
import { decodeModel } from '../../activities/features/onnx/onnx-proto.ts';
import { tfSamePadding } from '../../activities/features/onnx/tf-padding.ts';
import { applySymbolic } from '../../activities/training/vgg19.ts';

/** The parts of a decoded ModelProto these tests look at. */
const DecodedSchema = z.object({
  graph: z.object({
    node: z.array(
      z.object({
        opType: z.string(),
        input: z.array(z.string()),
        attribute: z.array(z.object({ name: z.string(), i: z.number().optional(), ints: z.array(z.number()).optional() })).default([]),
      }),
    ),
    initializer: z.array(z.object({ name: z.string(), dims: z.array(z.number()).default([]) })),
  }),
});
type DecodedNode = z.infer<typeof DecodedSchema>['graph']['node'][number];

function decoded(graph: BackboneGraph): z.infer<typeof DecodedSchema>['graph'] {
  return DecodedSchema.parse(decodeModel(graph.model)).graph;
}

function nodesOf(graph: BackboneGraph, opType: string): DecodedNode[] {
  return decoded(graph).node.filter((node) => node.opType === opType);
}

function ints(node: DecodedNode | undefined, name: string): number[] | number | undefined {
  const attribute = node?.attribute.find((a) => a.name === name);
  // Decoding fills absent repeated fields with []: an INT attribute has `i` and empty `ints`.
  return attribute?.i ?? attribute?.ints;
}

function initializerDims(graph: BackboneGraph, name: string): number[] | undefined {
  return decoded(graph).initializer.find((tensor) => tensor.name === name)?.dims;
}

const seeded = (seed: number): ReturnType<typeof tfl.initializers.randomUniform> => tfl.initializers.randomUniform({ minval: -1, maxval: 1, seed });

/** A chain of `layers` on NHWC input of `shape`. */
function chain(shape: [number, number, number], layers: tfl.layers.Layer[]): tfl.LayersModel {
  const input = tfl.input({ shape });
  const output = layers.reduce<tfl.SymbolicTensor>((x, layer) => applySymbolic(layer, x), input);
  return tfl.model({ inputs: input, outputs: output });
}

/** Keras-order pooling in plain tfjs ops, the reference for the graph's pooling nodes. */
function pooled(features: tf.Tensor, pooling: readonly PoolingKind[]): tf.Tensor {
  return pooling.reduce((h, kind) => (h.rank === 2 ? h : kind === 'flatten' ? tf.reshape(h, [h.shape[0] ?? 0, -1]) : tf.mean(h, [1, 2])), features);
}

/** Max abs difference between tfjs (inference mode, then pooling) and the ONNX graph on ORT. */
async function onnxVersusTfjs(model: tfl.LayersModel, x: tf.Tensor, pooling: readonly PoolingKind[] = []): Promise<{ graph: BackboneGraph; difference: number; expected: tf.Tensor }> {
  const expected = tf.tidy(() => {
    const features = model.predict(x);
    if (!(features instanceof tf.Tensor)) throw new Error('expected one output tensor');
    return pooled(features, pooling);
  });
  const graph = buildBackboneGraph(model, pooling);
  const session = await InferenceSession.create(graph.model);
  const output = (await session.run({ [graph.inputName]: new Tensor('float32', Float32Array.from(x.dataSync()), x.shape) }))[graph.outputName];
  await session.release();
  assert.ok(output && output.data instanceof Float32Array);
  assert.deepEqual(output.dims.map(Number), expected.shape, 'ONNX output shape');
  assert.deepEqual(graph.outputShape, expected.shape.slice(1), 'declared output shape');
  const actual = tf.tensor(output.data, expected.shape);
  const difference = tf.tidy(() => tf.max(tf.abs(tf.sub(expected, actual))).dataSync()[0] ?? NaN);
  actual.dispose();
  return { graph, difference, expected };
}

describe('ONNX conversion traps, each against tfjs on ORT', () => {
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  it('computes TF "same" padding with the odd pixel at the end, for any size and stride', () => {
    assert.deepEqual(tfSamePadding(224, 3, 2), [0, 1]);
    assert.deepEqual(tfSamePadding(8, 3, 2), [0, 1]);
    assert.deepEqual(tfSamePadding(7, 3, 2), [1, 1]);
    assert.deepEqual(tfSamePadding(5, 2, 2), [0, 1]);
    assert.deepEqual(tfSamePadding(112, 3, 1), [1, 1]);
    assert.deepEqual(tfSamePadding(6, 4, 1), [1, 2]);
    assert.deepEqual(tfSamePadding(8, 1, 2), [0, 0]);
    // Every output position has a full window: (out − 1)·stride + kernel = in + pads.
    for (let size = 1; size <= 20; size++) {
      for (const [kernel, stride] of [[3, 2], [3, 1], [1, 2], [5, 3], [2, 2]] as const) {
        const [begin, end] = tfSamePadding(size, kernel, stride);
        assert.ok(begin <= end && end - begin <= 1, `size ${size} k${kernel} s${stride}: [${begin}, ${end}]`);
        assert.ok((Math.ceil(size / stride) - 1) * stride + kernel <= size + begin + end);
      }
    }
  });

  for (const size of [8, 9]) {
    it(`pads a stride-2 "same" 3×3 conv on a ${size}×${size} input as TF does (${size % 2 === 0 ? '[0,0,1,1]' : '[1,1,1,1]'})`, async () => {
      const model = chain([size, size, 3], [tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: seeded(1), biasInitializer: seeded(2) })]);
      const x = tf.randomUniform([2, size, size, 3], -1, 1, 'float32', 3);
      const { graph, difference } = await onnxVersusTfjs(model, x);
      assert.deepEqual(ints(nodesOf(graph, 'Conv')[0], 'pads'), size % 2 === 0 ? [0, 0, 1, 1] : [1, 1, 1, 1]);
      assert.ok(difference < 1e-5, `max abs difference ${difference}`);
    });
  }

  it('stores Conv2D kernels HWIO [kh,kw,in,out] as ONNX OIHW [out,in,kh,kw] (non-square kernel and strides)', async () => {
    const conv = tfl.layers.conv2d({ name: 'odd_conv', filters: 5, kernelSize: [3, 2], strides: [1, 2], padding: 'valid', kernelInitializer: seeded(4), biasInitializer: seeded(5) });
    const model = chain([7, 8, 3], [conv]);
    const { graph, difference } = await onnxVersusTfjs(model, tf.randomUniform([2, 7, 8, 3], -1, 1, 'float32', 6));
    assert.deepEqual(initializerDims(graph, 'odd_conv/kernel'), [5, 3, 3, 2]);
    assert.ok(difference < 1e-5, `max abs difference ${difference}`);
  });

  for (const depthMultiplier of [1, 2]) {
    it(`stores depthwise kernels [kh,kw,C,${depthMultiplier}] as [C·${depthMultiplier},1,kh,kw] with group = C (stride 2, same)`, async () => {
      const dw = tfl.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, strides: 2, padding: 'same', depthMultiplier, depthwiseInitializer: seeded(7), biasInitializer: seeded(8) });
      const model = chain([8, 8, 4], [dw]);
      const { graph, difference } = await onnxVersusTfjs(model, tf.randomUniform([2, 8, 8, 4], -1, 1, 'float32', 9));
      assert.deepEqual(initializerDims(graph, 'dw/kernel'), [4 * depthMultiplier, 1, 3, 3]);
      assert.equal(ints(nodesOf(graph, 'Conv')[0], 'group'), 4);
      assert.ok(difference < 1e-5, `max abs difference ${difference}`);
    });
  }

  it("folds batch-norm into the conv before it with the layer's own epsilon, and converts a lone batch-norm", async () => {
    // Moving variances near epsilon (1e-3 and 1e-2 here), so using any other epsilon moves the outputs by tens of percent.
    const model = chain(
      [6, 6, 3],
      [
        tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: seeded(10) }),
        tfl.layers.batchNormalization({ epsilon: 1e-3 }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.batchNormalization({ epsilon: 1e-2 }),
      ],
    );
    for (const [i, layer] of model.layers.filter((l) => l.getClassName() === 'BatchNormalization').entries()) {
      const variance = i === 0 ? 1e-3 : 1e-2;
      layer.setWeights([tf.tensor1d([0.5, 1, 1.5, 2]), tf.tensor1d([-0.2, 0, 0.1, 0.3]), tf.tensor1d([0.01, -0.02, 0.03, 0]), tf.tensor1d([variance, variance / 2, variance * 2, variance])]);
    }
    const { graph, difference, expected } = await onnxVersusTfjs(model, tf.randomUniform([2, 6, 6, 3], -0.05, 0.05, 'float32', 11));
    assert.equal(nodesOf(graph, 'Conv').length, 1);
    assert.equal(nodesOf(graph, 'BatchNormalization').length, 0);
    assert.equal(nodesOf(graph, 'Mul').length, 1, 'the batch-norm after pooling is a per-channel Mul + Add');
    const scale = tf.tidy(() => tf.max(tf.abs(expected)).dataSync()[0] ?? 0);
    assert.ok(difference < 1e-5 * Math.max(1, scale), `max abs difference ${difference} (outputs up to ${scale})`);
  });

  it('turns ReLU6 (Activation relu6 and ReLU maxValue 6) into Clip with min and max as inputs', async () => {
    const model = chain(
      [5, 5, 2],
      [
        tfl.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: seeded(12), biasInitializer: seeded(13) }),
        tfl.layers.activation({ activation: 'relu6' }),
        tfl.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: seeded(14) }),
        tfl.layers.reLU({ maxValue: 6 }),
      ],
    );
    const { graph, difference, expected } = await onnxVersusTfjs(model, tf.randomUniform([2, 5, 5, 2], -20, 20, 'float32', 15));
    const clips = nodesOf(graph, 'Clip');
    assert.equal(clips.length, 2);
    assert.ok(clips.every((node) => node.input.length === 3 && node.attribute.length === 0));
    assert.equal(tf.tidy(() => tf.max(expected).dataSync()[0]), 6, 'inputs reach the ceiling');
    assert.ok(difference < 1e-5, `max abs difference ${difference}`);
  });

  for (const pooling of [[], ['flatten'], ['globalAveragePooling']] as const) {
    it(`takes NHWC input and gives Keras-order features with pooling [${pooling.join(', ')}] on a non-square input`, async () => {
      const model = chain([3, 5, 2], [tfl.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: seeded(16), biasInitializer: seeded(17) })]);
      const { graph, difference } = await onnxVersusTfjs(model, tf.randomUniform([2, 3, 5, 2], -1, 1, 'float32', 18), pooling);
      assert.deepEqual(graph.inputShape, [null, 3, 5, 2]);
      assert.deepEqual(graph.outputShape, pooling[0] === 'flatten' ? [60] : pooling[0] === 'globalAveragePooling' ? [4] : [3, 5, 4]);
      assert.ok(difference < 1e-5, `max abs difference ${difference}`);
    });
  }

  it('converts asymmetric ZeroPadding2D, "same" average pooling (padding not counted) and odd-size max pooling', async () => {
    const model = chain(
      [7, 7, 2],
      [
        tfl.layers.zeroPadding2d({ padding: [[1, 0], [0, 2]] }),
        tfl.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
        tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
        tfl.layers.dropout({ rate: 0.5 }),
      ],
    );
    const { difference } = await onnxVersusTfjs(model, tf.randomUniform([2, 7, 7, 2], -1, 1, 'float32', 19));
    assert.ok(difference < 1e-5, `max abs difference ${difference}`);
  });

  it('throws UnsupportedLayerError naming the layer and class for dilation, unknown layers and branches', () => {
    const dilated = chain([9, 9, 2], [tfl.layers.conv2d({ name: 'atrous', filters: 2, kernelSize: 3, dilationRate: 2 })]);
    assert.throws(() => buildBackboneGraph(dilated, []), (error: unknown) => error instanceof UnsupportedLayerError && /atrous \(Conv2D\).*dilation/.test(error.message));
    const dense = chain([4, 4, 2], [tfl.layers.flatten({}), tfl.layers.dense({ name: 'fc', units: 3 })]);
    assert.throws(() => buildBackboneGraph(dense, []), (error: unknown) => error instanceof UnsupportedLayerError && error.name === 'UnsupportedLayerError' && /fc \(Dense\)/.test(error.message));
    const input = tfl.input({ shape: [4, 4, 2] });
    const branch = applySymbolic(tfl.layers.conv2d({ filters: 2, kernelSize: 1 }), input);
    const merged = tfl.layers.add({ name: 'residual' }).apply([input, branch]);
    if (!(merged instanceof tfl.SymbolicTensor)) throw new Error('expected one symbolic tensor');
    assert.throws(() => buildBackboneGraph(tfl.model({ inputs: input, outputs: merged }), []), (error: unknown) => error instanceof UnsupportedLayerError && /residual \(Add\)/.test(error.message));
  });
});
