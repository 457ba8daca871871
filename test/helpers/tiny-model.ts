import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createRandom } from '../../common/prng.ts';
import { ModelSchema, type ModelSpec, type TrainSettings } from '../../common/model-spec.ts';
import { assembleModel, type BuiltModel } from '../../activities/training/model-builder.ts';
import { selectEngine } from '../../activities/engine/engine.ts';

/** Side of the synthetic images. */
export const TINY_SIZE = 8;

/** A small conv backbone (two convs, one strided) so trainer tests run in well under a second per epoch. */
export function tinyModel(seed: number, options: { trainableBackbone: boolean; spec: ModelSpec }): BuiltModel {
  const input = tfl.input({ shape: [TINY_SIZE, TINY_SIZE, 3] });
  const conv1 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) });
  const conv2 = tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) });
  const output = conv2.apply(conv1.apply(input)) as tfl.SymbolicTensor;
  const backbone = tfl.model({ inputs: input, outputs: output, name: 'tiny' });
  for (const layer of backbone.layers) layer.trainable = options.trainableBackbone;
  return assembleModel(backbone, options.spec.head, seed);
}

/** The tiny backbone's head: flatten, dense 16 with dropout, softmax over 2 classes. */
export function tinySpec(): ModelSpec {
  return ModelSchema.parse({
    backbone: 'vgg19',
    inputSize: 32,
    head: [{ type: 'flatten' }, { type: 'dense', units: 16 }, { type: 'dropout', rate: 0.25 }, { type: 'dense', units: 2, activation: 'softmax' }],
  });
}

export function tinySettings(overrides: Partial<TrainSettings> = {}): TrainSettings {
  return { optimizer: { name: 'rmsprop', learningRate: 1e-2 }, loss: 'categoricalCrossentropy', epochs: 4, batchSize: 16, seed: 7, ...overrides };
}

/** Two classes that differ in the mean of channel 0; labels one-hot. */
export function syntheticData(count: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor } {
  const random = createRandom('synthetic', seed);
  const pixels = TINY_SIZE * TINY_SIZE * 3;
  const values = new Float32Array(count * pixels);
  const labels: number[] = [];
  for (let n = 0; n < count; n++) {
    const label = n % 2;
    labels.push(label);
    for (let p = 0; p < pixels; p++) values[n * pixels + p] = random() + (p % 3 === 0 ? label * 0.6 : 0);
  }
  const indices = tf.tensor1d(labels, 'int32');
  const y = tf.cast(tf.oneHot(indices, 2), 'float32');
  indices.dispose();
  return { x: tf.tensor4d(values, [count, TINY_SIZE, TINY_SIZE, 3]), y };
}

export interface SyntheticSplits {
  data: { x: tf.Tensor; y: tf.Tensor };
  val: { x: tf.Tensor; y: tf.Tensor };
}

/**
 * Mocha hooks shared by the trainer suites: select the wasm engine, build a synthetic train set
 * (64 images) and validation set (32) before the suite, and dispose them after it.
 */
export function useSyntheticSplits(): SyntheticSplits {
  const splits: Partial<SyntheticSplits> = {};
  before(async () => {
    await selectEngine('wasm', { strict: true });
    splits.data = syntheticData(64, 1);
    splits.val = syntheticData(32, 2);
  });
  after(() => tf.dispose([splits.data?.x, splits.data?.y, splits.val?.x, splits.val?.y].filter((t): t is tf.Tensor => t !== undefined)));
  return {
    get data() {
      if (!splits.data) throw new Error('synthetic splits are created in the suite’s before hook');
      return splits.data;
    },
    get val() {
      if (!splits.val) throw new Error('synthetic splits are created in the suite’s before hook');
      return splits.val;
    },
  };
}
