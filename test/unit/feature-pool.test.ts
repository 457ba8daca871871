import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { ModelSchema } from '../../common/model-spec.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { createFeaturePool } from '../../activities/features/feature-pool.ts';
import { tensorSource } from '../../activities/data/batch-source.ts';
import { foldedInference } from '../../activities/model-io/folded-inference.ts';
import { buildModel } from '../../activities/training/model-builder.ts';
import { fitModel } from '../../activities/training/trainer.ts';
import { MOBILENET_V1_DIR } from '../helpers/shared-assets.ts';
import { syntheticData, tinyModel, tinySettings, tinySpec } from '../helpers/tiny-model.ts';

describe('feature extraction on worker threads', function () {
  this.timeout(60_000);
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  it('splits a batch over two wasm workers and returns the same pooled MobileNet features, in order', async () => {
    const built = await buildModel(
      ModelSchema.parse({
        backbone: 'mobilenet_v1',
        weights: MOBILENET_V1_DIR,
        inputSize: 224,
        head: [{ type: 'globalAveragePooling' }, { type: 'dense', units: 2, activation: 'softmax' }],
      }),
      { seed: 1 },
    );
    const pool = await createFeaturePool(built.backbone, { workers: 2, pooling: ['globalAveragePooling'] });
    const folded = foldedInference(built.backbone);
    const x = tf.randomUniform([3, 224, 224, 3], -1, 1, 'float32', 8);
    try {
      assert.equal(pool.workers, 2);
      const actual = await pool.extract(x);
      const expected = tf.tidy(() => tf.mean(folded.run(x), [1, 2]));
      assert.deepEqual(actual.shape, [3, 768]);
      const [diff = NaN] = await tf.tidy(() => tf.max(tf.abs(tf.sub(actual, expected)))).data();
      assert.ok(diff < 1e-5, `max difference ${diff}`);
      tf.dispose([actual, expected]);
    } finally {
      await pool.close();
      folded.dispose();
      x.dispose();
      built.model.dispose();
    }
  });

  it('trains to the same history with features from two workers as in-process', async () => {
    const { x, y } = syntheticData(32, 4);
    const run = async (featureWorkers: number) => {
      const built = tinyModel(9, { trainableBackbone: false, spec: tinySpec() });
      const result = await fitModel({ featureEngine: 'tfjs', built, settings: tinySettings({ epochs: 2 }), train: tensorSource(x, y, { batchSize: 16 }), featureWorkers });
      built.model.dispose();
      return result;
    };
    const inProcess = await run(1);
    const workers = await run(2);
    assert.deepEqual(workers.history.map((h) => h.loss), inProcess.history.map((h) => h.loss));
    assert.equal(workers.trainableWeightsSha256, inProcess.trainableWeightsSha256);
    tf.dispose([x, y]);
  });
});
