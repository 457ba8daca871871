import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { TrainingDivergedError } from '../../common/errors.ts';
import type { TrainSettings } from '../../common/model-spec.ts';
import { tensorSource } from '../../activities/data/batch-source.ts';
import { MemoryCheckpointStore } from '../../activities/training/checkpoint-store.ts';
import { fitModel, type TrainOptions, type TrainProgress } from '../../activities/training/trainer.ts';
import { tinyModel, tinySettings, tinySpec, useSyntheticSplits } from '../helpers/tiny-model.ts';

describe('fitModel', () => {
  const splits = useSyntheticSplits();

  function options(trainableBackbone: boolean, extra: Partial<TrainOptions> & Partial<Pick<TrainSettings, 'epochs' | 'optimizer'>> = {}): TrainOptions {
    const { epochs = 4, optimizer, ...rest } = extra;
    return {
      built: tinyModel(3, { trainableBackbone, spec: tinySpec() }),
      featureEngine: 'tfjs',
      settings: tinySettings({ epochs, ...(optimizer ? { optimizer } : {}) }),
      train: tensorSource(splits.data.x, splits.data.y, { batchSize: 16 }),
      validation: tensorSource(splits.val.x, splits.val.y, { batchSize: 16, shuffle: false }),
      engineName: 'wasm',
      ...rest,
    };
  }

  it('lowers the loss of a head trained on cached features of a frozen backbone, leaking no tensors', async () => {
    const opts = options(false);
    const before = tf.memory().numTensors;
    const progress: TrainProgress[] = [];
    const result = await fitModel({ ...opts, onProgress: (p) => void progress.push(p) });
    assert.equal(tf.memory().numTensors, before, 'every tensor the trainer made is freed');
    assert.equal(result.history.length, 4);
    assert.ok(result.featureSeconds > 0);
    const first = result.history[0]!;
    const last = result.history[3]!;
    assert.ok(last.loss < first.loss, `loss fell from ${first.loss} to ${last.loss}`);
    assert.ok((last.valAccuracy ?? 0) >= 0.8, `validation accuracy ${last.valAccuracy}`);
    assert.equal(progress.filter((p) => p.kind === 'batch').length, 4 * 4);
    assert.deepEqual(progress.filter((p) => p.kind === 'epoch').map((p) => p.epoch), [1, 2, 3, 4]);
    opts.built.model.dispose();
  });

  it('trains a conv backbone end to end on wasm with the registered conv gradients', async () => {
    const opts = options(true, { epochs: 3 });
    const result = await fitModel(opts);
    assert.equal(result.featureSeconds, 0);
    assert.ok(result.history[2]!.loss < result.history[0]!.loss, JSON.stringify(result.history.map((h) => h.loss)));
    opts.built.model.dispose();
  });

  const resumeCases: { optimizer: TrainSettings['optimizer']; trainable: boolean }[] = [
    { optimizer: { name: 'rmsprop', learningRate: 1e-2 }, trainable: true },
    { optimizer: { name: 'adam', learningRate: 1e-2 }, trainable: true },
    { optimizer: { name: 'rmsprop', learningRate: 1e-2 }, trainable: false },
  ];
  for (const { optimizer, trainable } of resumeCases) {
    it(`resumes from the epoch-2 checkpoint to bit-identical weights and history (${optimizer.name}, ${trainable ? 'trainable' : 'frozen'} backbone)`, async () => {
      const uninterrupted = options(trainable, { epochs: 3, optimizer, checkpoints: new MemoryCheckpointStore() });
      const expected = await fitModel(uninterrupted);
      uninterrupted.built.model.dispose();

      const store = new MemoryCheckpointStore();
      const crashed = options(trainable, { epochs: 2, optimizer, checkpoints: store });
      await fitModel(crashed);
      crashed.built.model.dispose();

      const retried = options(trainable, { epochs: 3, optimizer, checkpoints: store });
      const resumed = await fitModel(retried);
      retried.built.model.dispose();

      assert.equal(resumed.resumedFromEpoch, 2);
      assert.deepEqual(resumed.history.map((h) => h.epoch), [1, 2, 3]);
      assert.deepEqual(resumed.history.map((h) => [h.loss, h.valLoss]), expected.history.map((h) => [h.loss, h.valLoss]));
      assert.equal(resumed.trainableWeightsSha256, expected.trainableWeightsSha256);
      assert.deepEqual(store.saved.map((c) => c.state.epoch), [1, 2, 3]);
    });
  }

  it('fails with TrainingDivergedError when the loss is not finite', async () => {
    // Corrupt labels (NaN) make the loss NaN whatever the network does with its inputs.
    const bad = tf.fill([16, 2], Number.NaN);
    const inputs = tf.slice(splits.data.x, 0, 16);
    const opts = options(true, { train: tensorSource(inputs, bad, { batchSize: 16 }) });
    await assert.rejects(fitModel(opts), (error: unknown) => {
      assert.ok(error instanceof TrainingDivergedError);
      assert.match(error.message, /loss is NaN at epoch 1, batch 1/);
      return true;
    });
    tf.dispose([bad, inputs]);
    opts.built.model.dispose();
  });

  it('stops early when the monitored validation loss stops improving', async () => {
    const opts = options(false, { epochs: 6 });
    const result = await fitModel({
      ...opts,
      settings: tinySettings({ epochs: 6, earlyStopping: { monitor: 'valLoss', patience: 2, minDelta: 10 } }),
    });
    assert.equal(result.stoppedEarly, true);
    assert.equal(result.history.length, 3, 'best at epoch 1, then two epochs without a 10-unit improvement');
    opts.built.model.dispose();
  });

  it('stops on abort with the signal reason and keeps the checkpoints written so far', async () => {
    const store = new MemoryCheckpointStore();
    const controller = new AbortController();
    const opts = options(false, { checkpoints: store, signal: controller.signal });
    const reason = new Error('cancelled by test');
    await assert.rejects(
      fitModel({ ...opts, onProgress: (p) => void (p.kind === 'batch' && p.epoch === 2 && p.batch === 1 && controller.abort(reason)) }),
      (error: unknown) => error === reason,
    );
    assert.deepEqual(store.saved.map((c) => c.state.epoch), [1]);
    opts.built.model.dispose();
  });
});
