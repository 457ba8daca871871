import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectEngine } from '../../activities/engine/engine.ts';
import type { FeatureEngine } from '../../activities/features/feature-engine.ts';
import { tensorSource } from '../../activities/data/batch-source.ts';
import { computeFeatureStage } from '../../activities/features/feature-stage.ts';

/** An engine whose features are the per-image sums, counting starts and closes; its start takes a few event-loop turns, as a worker thread's does. */
function countingEngine() {
  const counts = { starts: 0, closes: 0, extracts: 0 };
  const engine: FeatureEngine = {
    engine: 'onnxruntime',
    device: 'counting',
    skipped: [],
    identity: { engine: 'counting' },
    async start() {
      counts.starts++;
      for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      return {
        extract: async (x) => {
          counts.extracts++;
          return tf.tidy(() => tf.expandDims(tf.sum(x, [1, 2, 3]), 1));
        },
        close: async () => {
          counts.closes++;
        },
      };
    },
    release: async () => {},
  };
  return { engine, counts };
}

describe('feature stage', () => {
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  it('starts one extractor for all overlapping batches of both passes, closes it, and keeps the batches in order', async () => {
    const { engine, counts } = countingEngine();
    const x = tf.tidy(() => tf.tile(tf.reshape(tf.range(0, 10), [10, 1, 1, 1]), [1, 2, 2, 1]));
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1, 0, 1, 0, 1, 0, 1], 'int32'), 2);
    const backbone = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [2, 2, 1] })] });
    const stage = await computeFeatureStage({
      backbone,
      train: tensorSource(x, y, { batchSize: 3, shuffle: false }),
      validation: tensorSource(x, y, { batchSize: 3, shuffle: false }),
      seed: 1,
      batchSize: 10,
      views: 1,
      features: engine,
    });
    try {
      assert.deepEqual(counts, { starts: 1, closes: 1, extracts: 8 });
      const batches = [];
      for await (const batch of stage.validation?.batches(0, 1) ?? []) batches.push(...(await batch.x.data()));
      // Each image is 4 pixels of its index: features 0, 4, 8, … in the source's order.
      assert.deepEqual(batches, [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]);
    } finally {
      stage.dispose();
      tf.dispose([x, y]);
      backbone.dispose();
    }
  });
});
