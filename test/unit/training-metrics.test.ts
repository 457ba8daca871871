import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { PipelineSpecError } from '../../common/errors.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { tensorSource } from '../../activities/data/batch-source.ts';
import { resolveClassWeights } from '../../activities/training/class-weights.ts';
import { lossValue, rocAuc } from '../../activities/training/losses.ts';
import { assembleModel } from '../../activities/training/model-builder.ts';
import { fitModel } from '../../activities/training/trainer.ts';
import { syntheticData, tinyModel, tinySettings, tinySpec } from '../helpers/tiny-model.ts';

describe('training losses and metrics', () => {
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  it('computes ROC AUC by ranks, counting ties half, and NaN without both classes', () => {
    assert.equal(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 0.75);
    assert.equal(rocAuc([0, 1], [0.5, 0.5]), 0.5);
    assert.equal(rocAuc([1, 0, 1], [0.9, 0.1, 0.8]), 1);
    assert.ok(Number.isNaN(rocAuc([1, 1], [0.2, 0.3])));
  });

  it('weights categorical cross-entropy per example by its class, as Keras does', async () => {
    const y = tf.tensor2d([[1, 0], [0, 1]]);
    const p = tf.tensor2d([[0.5, 0.5], [0.25, 0.75]]);
    const plain = await lossValue('categoricalCrossentropy', y, p).data();
    const weighted = await lossValue('categoricalCrossentropy', y, p, tf.tensor1d([2, 1])).data();
    assert.ok(Math.abs((plain[0] ?? 0) - (-Math.log(0.5) - Math.log(0.75)) / 2) < 1e-6);
    assert.ok(Math.abs((weighted[0] ?? 0) - (-2 * Math.log(0.5) - Math.log(0.75)) / 2) < 1e-6);
    tf.dispose([y, p]);
  });

  it('resolves balanced class weights as total / (classes × count) and named weights by class', () => {
    assert.deepEqual(resolveClassWeights('balanced', ['NORMAL', 'PNEUMONIA'], [1341, 3875]), [5216 / (2 * 1341), 5216 / (2 * 3875)]);
    assert.deepEqual(resolveClassWeights({ PNEUMONIA: 0.5 }, ['NORMAL', 'PNEUMONIA'], [1, 1]), [1, 0.5]);
    assert.equal(resolveClassWeights(undefined, ['a', 'b'], [1, 1]), undefined);
    assert.throws(() => resolveClassWeights({ COVID: 2 }, ['NORMAL', 'PNEUMONIA'], [1, 1]), PipelineSpecError);
  });

  it('trains a single sigmoid unit with binary cross-entropy from one-hot labels', async () => {
    const { x, y } = syntheticData(48, 5);
    const sigmoid = { ...tinySpec(), head: [{ type: 'flatten' as const }, { type: 'dense' as const, units: 1, activation: 'sigmoid' as const }] };
    const frozen = tinyModel(2, { trainableBackbone: false, spec: tinySpec() });
    const built = assembleModel(frozen.backbone, sigmoid.head, 2);
    const result = await fitModel({
      built,
      featureEngine: 'tfjs',
      settings: tinySettings({ loss: 'binaryCrossentropy', epochs: 5, classWeights: [1, 1.5] }),
      train: tensorSource(x, y, { batchSize: 16 }),
      validation: tensorSource(x, y, { batchSize: 16, shuffle: false }),
    });
    assert.equal(built.outputUnits, 1);
    assert.ok(result.history[4]!.loss < result.history[0]!.loss, JSON.stringify(result.history.map((h) => h.loss)));
    assert.ok((result.history[4]!.valAuc ?? 0) > 0.9, `AUC ${result.history[4]!.valAuc}`);
    tf.dispose([x, y]);
    built.model.dispose();
    frozen.head.dispose();
  });
});
