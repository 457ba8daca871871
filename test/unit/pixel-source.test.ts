import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectEngine } from '../../activities/engine/engine.ts';
import { pixelSource, type PixelSplit } from '../../activities/training/pixel-source.ts';

function grayscaleSplit(count: number): PixelSplit {
  // Image i is filled with the value 30·i, labelled i % 2.
  const pixels = new Uint8Array(count * 2 * 2);
  for (let i = 0; i < count; i++) pixels.fill(30 * i, i * 4, (i + 1) * 4);
  return { count, height: 2, width: 2, channels: 1, pixels, labels: Int32Array.from({ length: count }, (_, i) => i % 2) };
}

describe('pixelSource', () => {
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  it('scales grayscale pixels to [-1, 1], replicates them to three channels and one-hot encodes labels', async () => {
    const source = pixelSource(grayscaleSplit(5), { batchSize: 2, classes: 2, preprocessing: 'symmetric', shuffle: false });
    const batches = [...(source.batches(0, 1) as Iterable<{ x: tf.Tensor; y: tf.Tensor }>)];
    assert.deepEqual(batches.map((b) => b.x.shape), [[2, 2, 2, 3], [2, 2, 2, 3], [1, 2, 2, 3]]);
    const first = await batches[0]!.x.data();
    assert.ok(Math.abs((first[0] ?? 0) - -1) < 1e-6);
    assert.ok(Math.abs((first[12] ?? 0) - (30 / 127.5 - 1)) < 1e-6);
    assert.deepEqual(Array.from(await batches[2]!.y.data()), [1, 0]);
    tf.dispose(batches.flatMap((b) => [b.x, b.y]));
  });

  it('shuffles the same way for the same (seed, epoch) and differently for the next epoch', async () => {
    const source = pixelSource(grayscaleSplit(8), { batchSize: 8, classes: 2, preprocessing: 'unit' });
    const order = async (epoch: number) => {
      const [batch] = [...(source.batches(epoch, 3) as Iterable<{ x: tf.Tensor; y: tf.Tensor }>)];
      const values = await tf.tidy(() => tf.round(tf.mul(tf.slice(batch!.x, [0, 0, 0, 0], [-1, 1, 1, 1]), 255 / 30))).data();
      tf.dispose([batch!.x, batch!.y]);
      return Array.from(values);
    };
    const a = await order(0);
    assert.deepEqual(await order(0), a);
    assert.notDeepEqual(await order(1), a);
    assert.deepEqual([...a].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
