import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createRandom, shuffled } from '../../common/prng.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { tensorSource, type BatchSource } from '../../activities/data/batch-source.ts';
import { pixelSource } from '../../activities/training/pixel-source.ts';
import { decodeFeatureRow, encodeFeatureRow, MemoryFeatureCache } from '../../activities/features/feature-cache.ts';
import { fitModel, type TrainOptions } from '../../activities/training/trainer.ts';
import { tinyModel, tinySettings, tinySpec, useSyntheticSplits } from '../helpers/tiny-model.ts';

/** A tensor source that names its examples `<name>/<index>` in the order it yields them. */
function keyedSource(x: tf.Tensor, y: tf.Tensor, name: string, shuffle: boolean): BatchSource {
  const source = tensorSource(x, y, { batchSize: 16, shuffle });
  const size = x.shape[0] ?? 0;
  return {
    size,
    batches: (epoch, seed) => source.batches(epoch, seed),
    exampleKeys: (epoch, seed) => {
      const order = Array.from({ length: size }, (_, i) => i);
      return (shuffle ? shuffled(order, createRandom(seed, 'shuffle', epoch)) : order).map((i) => `${name}/${i}`);
    },
  };
}

describe('feature cache', () => {
  it('encodes a row so that decoding gives the same shape and the same float32 bits, and rejects truncated bytes', () => {
    const values = new Float32Array([0, -0, 1.5, 1e-45, -3.4028234663852886e38, Number.NaN, 0.1]);
    const bytes = encodeFeatureRow({ shape: [7], values });
    const row = decodeFeatureRow(bytes);
    assert.deepEqual(row?.shape, [7]);
    assert.deepEqual(new Uint8Array(row?.values.buffer ?? new ArrayBuffer(0)), new Uint8Array(values.buffer));
    assert.equal(decodeFeatureRow(bytes.subarray(0, bytes.length - 1)), undefined);
  });

  it('keys a pixel source\'s examples by image id in batch order, and augmented copies also by seed, view and index', async () => {
    await selectEngine('wasm', { strict: true });
    const split = { count: 3, height: 2, width: 2, channels: 1, pixels: Uint8Array.from({ length: 12 }, (_, i) => i * 20), labels: Int32Array.from([0, 1, 0]) };
    const ids = ['p/a', 'p/b', 'p/c'];
    const plain = pixelSource(split, { batchSize: 2, classes: 2, preprocessing: 'unit', imageIds: ids });
    const keys = plain.exampleKeys?.(1, 7) ?? [];
    const labels: number[] = [];
    for await (const batch of plain.batches(1, 7)) {
      const label = tf.argMax(batch.y, -1);
      labels.push(...(await label.data()));
      label.dispose();
      tf.dispose([batch.x, batch.y]);
    }
    assert.deepEqual(keys.map((key) => split.labels[ids.indexOf(key.replace('unit/plain/', ''))]), labels, 'keys follow the batches\' order');
    assert.deepEqual([...keys].sort(), ['unit/plain/p/a', 'unit/plain/p/b', 'unit/plain/p/c']);
    const augmentation = { rotation: 10, widthShift: 0, heightShift: 0, shear: 0, zoom: 0, horizontalFlip: false, fillMode: 'nearest' as const, views: 2 };
    const augmented = pixelSource(split, { batchSize: 2, classes: 2, preprocessing: 'unit', imageIds: ids, augmentation, shuffle: false });
    const [view0] = augmented.exampleKeys?.(0, 7) ?? [];
    const [view1] = augmented.exampleKeys?.(1, 7) ?? [];
    assert.match(view0 ?? '', /^unit\/aug-[0-9a-f]{16}-s7-v0\/0-p\/a$/);
    assert.match(view1 ?? '', /^unit\/aug-[0-9a-f]{16}-s7-v1\/0-p\/a$/);
  });

  describe('in fitModel', () => {
    const splits = useSyntheticSplits();

    function options(extra: Partial<TrainOptions> = {}): TrainOptions {
      return {
        built: tinyModel(3, { trainableBackbone: false, spec: tinySpec() }),
        featureEngine: 'tfjs',
        settings: tinySettings({ epochs: 3 }),
        train: keyedSource(splits.data.x, splits.data.y, 'train', true),
        validation: keyedSource(splits.val.x, splits.val.y, 'val', false),
        engineName: 'wasm',
        foldBatchNorm: false,
        ...extra,
      };
    }

    async function train(extra: Partial<TrainOptions> = {}) {
      const opts = options(extra);
      try {
        return await fitModel(opts);
      } finally {
        opts.built.model.dispose();
      }
    }

    it('computes and stores features on the first run and reuses all of them on the second, to the same weights as a run without the cache', async () => {
      const uncached = await train();
      const cache = new MemoryFeatureCache();
      const first = await train({ featureCache: cache });
      const before = tf.memory().numTensors;
      const second = await train({ featureCache: cache });
      assert.equal(tf.memory().numTensors, before, 'reading cached features leaks no tensors');

      assert.deepEqual([uncached.featuresComputed, uncached.featuresReused], [96, 0]);
      assert.deepEqual([first.featuresComputed, first.featuresReused], [96, 0]);
      assert.deepEqual([second.featuresComputed, second.featuresReused], [0, 96]);
      assert.equal(cache.rows.size, 96, 'one row per train and validation image');
      assert.equal(first.trainableWeightsSha256, uncached.trainableWeightsSha256);
      assert.equal(second.trainableWeightsSha256, uncached.trainableWeightsSha256);
      assert.deepEqual(second.history.map((e) => e.loss), first.history.map((e) => e.loss));
    });

    it('computes each feature once when two trainings on the same backbone and data run at once (sweep trials), to the same weights', async () => {
      const cache = new MemoryFeatureCache();
      const [a, b] = await Promise.all([train({ featureCache: cache }), train({ featureCache: cache })]);
      // Whichever ran first computed all 96; the other waited for its turn and read them.
      assert.deepEqual([a.featuresComputed + b.featuresComputed, a.featuresReused + b.featuresReused], [96, 96]);
      assert.equal(cache.rows.size, 96);
      assert.equal(a.trainableWeightsSha256, b.trainableWeightsSha256);
    });

    it('stores exactly the features the frozen backbone computes for each example, under the backbone hash and the example key', async () => {
      const cache = new MemoryFeatureCache();
      await train({ featureCache: cache });
      const built = tinyModel(3, { trainableBackbone: false, spec: tinySpec() });
      const fresh = tf.tidy(() => tfl.layers.flatten().apply(built.backbone.predict(splits.data.x)) as tf.Tensor);
      const freshValues = await fresh.data();
      fresh.dispose();
      built.model.dispose();
      const width = freshValues.length / 64;
      const hashes = new Set([...cache.rows.keys()].map((key) => key.split('/')[0]));
      assert.equal(hashes.size, 1, 'one backbone identity');
      const [hash] = hashes;
      assert.match(hash ?? '', /^[0-9a-f]{64}$/);
      for (let i = 0; i < 64; i++) {
        const row = cache.rows.get(`${hash}/train/${i}`);
        assert.ok(row, `train example ${i} is stored`);
        assert.deepEqual(row.shape, [width]);
        assert.deepEqual(row.values, Float32Array.from(freshValues.subarray(i * width, (i + 1) * width)), `example ${i}'s stored features equal fresh ones`);
      }
    });

    it('keys features by backbone identity: other backbone weights compute afresh instead of reusing', async () => {
      const cache = new MemoryFeatureCache();
      await train({ featureCache: cache });
      const other = await train({ featureCache: cache, built: tinyModel(5, { trainableBackbone: false, spec: tinySpec() }) });
      assert.deepEqual([other.featuresComputed, other.featuresReused], [96, 0]);
      assert.equal(cache.rows.size, 192);
    });
  });
});
