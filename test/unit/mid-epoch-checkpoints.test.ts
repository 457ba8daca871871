import assert from 'node:assert/strict';
import { tensorSource } from '../../activities/data/batch-source.ts';
import { checkpointName, MemoryCheckpointStore } from '../../activities/training/checkpoint-store.ts';
import { fitModel, type TrainOptions, type TrainProgress } from '../../activities/training/trainer.ts';
import { tinyModel, tinySettings, tinySpec, useSyntheticSplits } from '../helpers/tiny-model.ts';

describe('checkpointEveryBatches', () => {
  const splits = useSyntheticSplits();

  /** 64 examples in batches of 16: 4 batches per epoch. */
  function options(trainableBackbone: boolean, extra: Partial<TrainOptions> = {}): TrainOptions {
    return {
      built: tinyModel(3, { trainableBackbone, spec: tinySpec() }),
      featureEngine: 'tfjs',
      settings: tinySettings({ epochs: 3 }),
      train: tensorSource(splits.data.x, splits.data.y, { batchSize: 16 }),
      validation: tensorSource(splits.val.x, splits.val.y, { batchSize: 16, shuffle: false }),
      engineName: 'wasm',
      checkpointEveryBatches: 2,
      ...extra,
    };
  }

  async function train(opts: TrainOptions) {
    try {
      return await fitModel(opts);
    } finally {
      opts.built.model.dispose();
    }
  }

  it('orders checkpoint names by epoch, then by batches into the next epoch', async () => {
    assert.equal(checkpointName({ epoch: 2 }), 'epoch-2');
    assert.equal(checkpointName({ epoch: 2, partial: { batches: 3, lossSum: 1, correct: 1, count: 48, seconds: 1 } }), 'epoch-2-batch-3');
    const store = new MemoryCheckpointStore();
    const empty = { weights: new Uint8Array(), optimizer: new Uint8Array() };
    const state = { history: [], rng: { seed: 1 }, earlyStopping: { best: null, bestEpoch: 0, wait: 0, stopped: false }, weightSpecs: [], optimizerSpecs: [], engine: 'wasm' };
    await store.save({ ...empty, state: { ...state, epoch: 1, partial: { batches: 2, lossSum: 0, correct: 0, count: 32, seconds: 0 } } });
    await store.save({ ...empty, state: { ...state, epoch: 1 } });
    await store.save({ ...empty, state: { ...state, epoch: 0, partial: { batches: 3, lossSum: 0, correct: 0, count: 48, seconds: 0 } } });
    assert.equal(checkpointName((await store.latest())?.state ?? { epoch: -1 }), 'epoch-1-batch-2');
  });

  for (const trainable of [false, true]) {
    it(`writes a checkpoint every 2 batches inside each epoch and resumes from one bit-identically (${trainable ? 'trainable' : 'frozen'} backbone)`, async () => {
      const reference = new MemoryCheckpointStore();
      const expected = await train(options(trainable, { checkpoints: reference }));
      assert.deepEqual(
        reference.saved.map((c) => checkpointName(c.state)),
        ['epoch-0-batch-2', 'epoch-1', 'epoch-1-batch-2', 'epoch-2', 'epoch-2-batch-2', 'epoch-3'],
        'no extra checkpoint at the last batch, which the epoch checkpoint covers',
      );

      // The attempt dies during epoch 2, after the checkpoint at its batch 2.
      const store = new MemoryCheckpointStore();
      const controller = new AbortController();
      const progress: TrainProgress[] = [];
      const crashed = options(trainable, {
        checkpoints: store,
        signal: controller.signal,
        onProgress: (p) => {
          progress.push(p);
          if (p.kind === 'batch' && p.epoch === 2 && p.checkpoint) controller.abort(new Error('worker killed'));
        },
      });
      await assert.rejects(train(crashed), /worker killed/);
      assert.deepEqual(progress.filter((p) => p.kind === 'batch' && p.checkpoint).map((p) => p.checkpoint), ['memory:epoch-0-batch-2', 'memory:epoch-1-batch-2']);

      const resumedProgress: TrainProgress[] = [];
      const resumed = await train(options(trainable, { checkpoints: store, onProgress: (p) => void resumedProgress.push(p) }));
      assert.equal(resumed.resumedFromEpoch, 1);
      assert.deepEqual(resumedProgress.filter((p) => p.kind === 'batch' && p.epoch === 2).map((p) => p.kind === 'batch' && p.batch), [3, 4], 'only the untrained batches of epoch 2 run');
      assert.deepEqual(resumed.history.map((h) => h.epoch), [1, 2, 3]);
      assert.deepEqual(resumed.history.map((h) => [h.loss, h.accuracy, h.valLoss]), expected.history.map((h) => [h.loss, h.accuracy, h.valLoss]));
      assert.equal(resumed.trainableWeightsSha256, expected.trainableWeightsSha256);
    });
  }
});
