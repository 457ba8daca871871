import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ModelSchema } from '../../common/model-spec.ts';
import { tensorSource } from '../../activities/data/batch-source.ts';
import { assembleModel, type BuiltModel } from '../../activities/training/model-builder.ts';
import { createModelPasses } from '../../activities/training/model-passes.ts';
import { applyTrainable } from '../../activities/training/trainable-layers.ts';
import { fitModel } from '../../activities/training/trainer.ts';
import { TINY_SIZE, tinySettings, useSyntheticSplits } from '../helpers/tiny-model.ts';

/**
 * A MobileNet-like chain at toy size: conv → BN → ReLU6, depthwise (stride 2) → BN → ReLU6,
 * pointwise conv → BN → ReLU6, with batch-norm statistics that are not the identity, so a
 * training-mode pass or a moving-average update would show.
 */
function miniMobileNet(from: string): BuiltModel {
  let seed = 20;
  const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
  const input = tfl.input({ shape: [TINY_SIZE, TINY_SIZE, 3] });
  const layers: tfl.layers.Layer[] = [
    tfl.layers.conv2d({ name: 'conv1', filters: 4, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init() }),
    tfl.layers.batchNormalization({ name: 'conv1_bn' }),
    tfl.layers.reLU({ name: 'conv1_relu', maxValue: 6 }),
    tfl.layers.depthwiseConv2d({ name: 'conv_dw_1', kernelSize: 3, strides: 2, padding: 'same', useBias: false, depthwiseInitializer: init() }),
    tfl.layers.batchNormalization({ name: 'conv_dw_1_bn' }),
    tfl.layers.reLU({ name: 'conv_dw_1_relu', maxValue: 6 }),
    tfl.layers.conv2d({ name: 'conv_pw_1', filters: 8, kernelSize: 1, useBias: false, kernelInitializer: init() }),
    tfl.layers.batchNormalization({ name: 'conv_pw_1_bn' }),
    tfl.layers.reLU({ name: 'conv_pw_1_relu', maxValue: 6 }),
  ];
  const output = layers.reduce<tfl.SymbolicTensor>((h, layer) => layer.apply(h) as tfl.SymbolicTensor, input);
  const backbone = tfl.model({ inputs: input, outputs: output, name: 'mini_mobilenet' });
  for (const layer of layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const channels = layer.getWeights()[0]?.shape[0] ?? 0;
    const stats = tf.tidy(() => [
      tf.randomUniform([channels], 0.5, 1.5, 'float32', seed++),
      tf.randomUniform([channels], -0.2, 0.2, 'float32', seed++),
      tf.randomUniform([channels], -0.3, 0.3, 'float32', seed++),
      tf.randomUniform([channels], 0.5, 2, 'float32', seed++),
    ]);
    layer.setWeights(stats);
    tf.dispose(stats);
  }
  applyTrainable(backbone, { from }, 'mobilenet_v1');
  const head = ModelSchema.parse({
    backbone: 'mobilenet_v1',
    weights: 'model.json',
    inputSize: 224,
    head: [{ type: 'globalAveragePooling' }, { type: 'dense', units: 2, activation: 'softmax' }],
  }).head;
  return assembleModel(backbone, head, 3);
}

/** Every backbone weight's values by name (trainable or not: batch-norm statistics included). */
function backboneValues(built: BuiltModel): Map<string, Float32Array> {
  return new Map(built.backbone.weights.map((weight) => [weight.originalName, Float32Array.from(weight.read().dataSync())]));
}

describe('a partly frozen backbone (model.trainable: { from })', () => {
  const splits = useSyntheticSplits();

  it('trains the layers from the named one on, and leaves the frozen layers and every batch-norm moving statistic bit-identical', async () => {
    const built = miniMobileNet('conv_dw_1');
    const before = backboneValues(built);
    const tensorsBefore = tf.memory().numTensors;
    const result = await fitModel({
      built,
      featureEngine: 'tfjs',
      settings: tinySettings({ epochs: 3, optimizer: { name: 'adam', learningRate: 1e-2 } }),
      train: tensorSource(splits.data.x, splits.data.y, { batchSize: 16 }),
      validation: tensorSource(splits.val.x, splits.val.y, { batchSize: 16, shuffle: false }),
      engineName: 'wasm',
    });
    assert.equal(tf.memory().numTensors, tensorsBefore, 'training leaks no tensors');
    assert.equal(result.history.length, 3);
    assert.equal(result.featureSeconds, 0, 'no feature cache for a trained backbone');
    const after = backboneValues(built);
    const changed = [...before].filter(([name, values]) => !after.get(name)?.every((v, i) => v === values[i])).map(([name]) => name);
    assert.deepEqual(changed.sort(), ['conv_dw_1/depthwise_kernel', 'conv_dw_1_bn/beta', 'conv_dw_1_bn/gamma', 'conv_pw_1/kernel', 'conv_pw_1_bn/beta', 'conv_pw_1_bn/gamma']);
    built.model.dispose();
  });

  it('steps the trained backbone layers at learningRateScale times the rate and the head at the full rate', async () => {
    /** Weight changes after one adam step on one batch (its first step is linear in the rate). */
    const firstStep = async (backboneLearningRateScale: number) => {
      const built = miniMobileNet('conv_dw_1');
      const before = new Map([...backboneValues(built), ...built.head.weights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync())] as const)]);
      const x = tf.slice(splits.data.x, 0, 16);
      const y = tf.slice(splits.data.y, 0, 16);
      await fitModel({
        built,
        featureEngine: 'tfjs',
        settings: tinySettings({ epochs: 1, optimizer: { name: 'adam', learningRate: 1e-2 }, backboneLearningRateScale }),
        train: tensorSource(x, y, { batchSize: 16 }),
        engineName: 'wasm',
      });
      const weights = [...built.backbone.weights, ...built.head.weights];
      const steps = new Map(weights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync(), (v, i) => v - (before.get(w.originalName)?.[i] ?? Number.NaN))] as const));
      tf.dispose([x, y]);
      built.model.dispose();
      return steps;
    };
    const full = await firstStep(1);
    const scaled = await firstStep(0.25);
    const largest = (name: string, steps: Map<string, Float32Array>) => Math.max(...Array.from(steps.get(name) ?? [], Math.abs));
    assert.ok(Math.abs(largest('conv_dw_1/depthwise_kernel', scaled) / largest('conv_dw_1/depthwise_kernel', full) - 0.25) < 1e-3);
    assert.ok(Math.abs(largest('conv_pw_1_bn/gamma', scaled) / largest('conv_pw_1_bn/gamma', full) - 0.25) < 1e-3);
    assert.equal(largest('conv1/kernel', scaled), 0, 'the frozen prefix does not move');
    const headKernel = [...full.keys()].find((name) => name.startsWith('head_2_dense') && name.endsWith('kernel')) ?? '';
    assert.ok(Math.abs(largest(headKernel, scaled) / largest(headKernel, full) - 1) < 1e-3, 'the head steps at the full rate');
  });

  it('predicts through the folded frozen prefix and the trained layers as the unsplit model does (within 1e-5)', () => {
    const built = miniMobileNet('conv_pw_1');
    const passes = createModelPasses(built, { cached: false, foldBatchNorm: true });
    const x = tf.slice(splits.val.x, 0, 8);
    const [split, whole] = tf.tidy(() => [passes.predict(x), built.model.predict(x) as tf.Tensor]);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(split!, whole!))).dataSync()[0] ?? Number.NaN);
    assert.ok(diff < 1e-5, `largest difference ${diff}`);
    tf.dispose([x, split!, whole!]);
    passes.dispose();
    built.model.dispose();
  });
});
