import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectEngine } from '../../activities/engine/engine.ts';
import type { AugmentationParams } from '../../activities/training/augmentation.ts';
import type { Batch } from '../../activities/data/batch-source.ts';
import { MemoryCheckpointStore } from '../../activities/training/checkpoint-store.ts';
import { pixelSource, type PixelSplit } from '../../activities/training/pixel-source.ts';
import { fitModel, type TrainOptions } from '../../activities/training/trainer.ts';
import { createRandom } from '../../common/prng.ts';
import { TINY_SIZE, tinyModel, tinySettings, tinySpec } from '../helpers/tiny-model.ts';

const NOTEBOOK: AugmentationParams = { rotation: 40, widthShift: 0.2, heightShift: 0.2, shear: 0.2, zoom: 0.2, horizontalFlip: true, fillMode: 'nearest' };

/** RGB uint8 images whose two classes differ in a bright left half of channel 0. */
function syntheticSplit(count: number, seed: number): PixelSplit {
  const random = createRandom('augmented-split', seed);
  const pixels = new Uint8Array(count * TINY_SIZE * TINY_SIZE * 3);
  for (let n = 0; n < count; n++) {
    for (let p = 0; p < TINY_SIZE * TINY_SIZE; p++) {
      for (let ch = 0; ch < 3; ch++) {
        const bright = n % 2 === 1 && ch === 0 && p % TINY_SIZE < TINY_SIZE / 2 ? 120 : 0;
        pixels[(n * TINY_SIZE * TINY_SIZE + p) * 3 + ch] = Math.floor(random() * 120) + bright;
      }
    }
  }
  return { count, height: TINY_SIZE, width: TINY_SIZE, channels: 3, pixels, labels: Int32Array.from({ length: count }, (_, i) => i % 2) };
}

async function firstBatchPixels(batches: Iterable<Batch> | AsyncIterable<Batch>): Promise<number[]> {
  for await (const batch of batches) {
    const values = Array.from(await batch.x.data());
    tf.dispose([batch.x, batch.y]);
    return values;
  }
  return [];
}

describe('augmented training', () => {
  const train = syntheticSplit(48, 1);
  const val = syntheticSplit(16, 2);
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  function options(trainableBackbone: boolean, augmentation: AugmentationParams | undefined, extra: Partial<TrainOptions> = {}, epochs = 3): TrainOptions {
    const common = { batchSize: 16, classes: 2, preprocessing: 'unit' as const };
    return {
      built: tinyModel(3, { trainableBackbone, spec: tinySpec() }),
      featureEngine: 'tfjs',
      settings: tinySettings({ epochs }),
      train: pixelSource(train, { ...common, ...(augmentation ? { augmentation } : {}) }),
      validation: pixelSource(val, { ...common, shuffle: false }),
      engineName: 'wasm',
      ...extra,
    };
  }

  async function weightsHash(opts: TrainOptions): Promise<string> {
    try {
      return (await fitModel(opts)).trainableWeightsSha256;
    } finally {
      opts.built.model.dispose();
    }
  }

  it('gives the same augmented batches for the same (seed, epoch) and new ones for the next epoch', async () => {
    const source = pixelSource(train, { batchSize: 16, classes: 2, preprocessing: 'unit', shuffle: false, augmentation: NOTEBOOK });
    const plain = pixelSource(train, { batchSize: 16, classes: 2, preprocessing: 'unit', shuffle: false });
    const epoch0 = await firstBatchPixels(source.batches(0, 5));
    assert.deepEqual(await firstBatchPixels(source.batches(0, 5)), epoch0);
    assert.notDeepEqual(await firstBatchPixels(source.batches(1, 5)), epoch0);
    assert.notDeepEqual(await firstBatchPixels(source.batches(0, 6)), epoch0);
    assert.notDeepEqual(await firstBatchPixels(plain.batches(0, 5)), epoch0);
    assert.ok(epoch0.every((v) => v >= 0 && v <= 1), 'augmented pixels stay in the unit range');
  });

  for (const trainable of [true, false]) {
    const backbone = trainable ? 'trainable backbone, fresh copies every epoch' : 'frozen backbone, 2 cached views';
    it(`trains to other weights with augmentation than without, and to the same weights twice with one seed (${backbone})`, async () => {
      const views = trainable ? {} : { featureViews: 2 };
      const off = await weightsHash(options(trainable, undefined));
      const on = await weightsHash(options(trainable, NOTEBOOK, views));
      const again = await weightsHash(options(trainable, NOTEBOOK, views));
      assert.notEqual(on, off);
      assert.equal(again, on);
    });

    it(`resumes augmented training from the epoch-2 checkpoint to bit-identical weights (${backbone})`, async () => {
      const views = trainable ? {} : { featureViews: 2 };
      const expected = await fitModel(options(trainable, NOTEBOOK, { ...views, checkpoints: new MemoryCheckpointStore() }));
      const store = new MemoryCheckpointStore();
      await weightsHash(options(trainable, NOTEBOOK, { ...views, checkpoints: store }, 2));
      const retried = options(trainable, NOTEBOOK, { ...views, checkpoints: store });
      const resumed = await fitModel(retried);
      retried.built.model.dispose();
      assert.equal(resumed.resumedFromEpoch, 2);
      assert.deepEqual(resumed.history.map((h) => h.loss), expected.history.map((h) => h.loss));
      assert.equal(resumed.trainableWeightsSha256, expected.trainableWeightsSha256);
    });
  }

  it('trains a frozen head on cached view e mod views: epoch 1 uses view 0 whatever the view count, epoch 2 differs with two views', async () => {
    const oneEpochOneView = await weightsHash(options(false, NOTEBOOK, { featureViews: 1 }, 1));
    const oneEpochTwoViews = await weightsHash(options(false, NOTEBOOK, { featureViews: 2 }, 1));
    const twoEpochsOneView = await weightsHash(options(false, NOTEBOOK, { featureViews: 1 }, 2));
    const twoEpochsTwoViews = await weightsHash(options(false, NOTEBOOK, { featureViews: 2 }, 2));
    assert.equal(oneEpochTwoViews, oneEpochOneView);
    assert.notEqual(twoEpochsTwoViews, twoEpochsOneView);
  });
});
