import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectEngine } from '../../activities/engine/engine.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { tensorSource } from '../../activities/data/batch-source.ts';
import { checkpointPrefix, ObjectStoreCheckpointStore } from '../../activities/training/checkpoint-store.ts';
import { fetchLayersModelFiles, loadLayersModel, saveModelToStore } from '../../activities/model-io/layers-model-io.ts';
import { fitModel, type TrainOptions, type TrainProgress } from '../../activities/training/trainer.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { syntheticData, tinyModel, tinySettings, tinySpec } from '../helpers/tiny-model.ts';

describe('training state in the real S3 server', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let store: ObjectStore;
  let data: { x: tf.Tensor; y: tf.Tensor };

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'training' });
    store = new ObjectStore(servers.storage);
    await selectEngine('wasm', { strict: true });
    data = syntheticData(48, 4);
  });

  after(async () => {
    tf.dispose([data.x, data.y]);
    await servers?.stop();
  });

  function options(epochs: number, prefix: string): TrainOptions {
    return {
      built: tinyModel(11, { trainableBackbone: true, spec: tinySpec() }),
      featureEngine: 'tfjs',
      settings: tinySettings({ epochs, seed: 3 }),
      train: tensorSource(data.x, data.y, { batchSize: 16 }),
      checkpoints: new ObjectStoreCheckpointStore(store, prefix),
    };
  }

  it('writes one checkpoint per epoch under runs/<workflowId>/<stepId>/checkpoints and resumes from the last', async () => {
    const prefix = checkpointPrefix('wf-resume', 'train');
    const uninterrupted = await fitModel(options(3, checkpointPrefix('wf-straight', 'train')));

    const first = options(2, prefix);
    const progress: string[] = [];
    await fitModel({ ...first, onProgress: (p) => void (p.kind === 'epoch' && progress.push(p.checkpoint ?? '')) });
    assert.deepEqual(progress, [`${prefix}/epoch-1/`, `${prefix}/epoch-2/`]);
    assert.deepEqual((await store.list(`${prefix}/epoch-2/`)).sort(), [`${prefix}/epoch-2/checkpoint.json`, `${prefix}/epoch-2/optimizer.bin`, `${prefix}/epoch-2/weights.bin`]);

    // A crash between the shards and checkpoint.json leaves an epoch that must not count.
    await store.put(`${prefix}/epoch-3/weights.bin`, Buffer.from('partial'));
    const resumed = await fitModel(options(3, prefix));
    assert.equal(resumed.resumedFromEpoch, 2);
    assert.deepEqual(resumed.history.map((h) => h.epoch), [1, 2, 3]);
    assert.equal(resumed.trainableWeightsSha256, uninterrupted.trainableWeightsSha256);
  });

  it('writes checkpoints inside epochs with checkpointEveryBatches and resumes from the latest one mid-epoch, to the same weights', async () => {
    const prefix = checkpointPrefix('wf-mid-epoch', 'train');
    const uninterrupted = await fitModel(options(3, checkpointPrefix('wf-mid-epoch-straight', 'train')));

    // 48 examples in batches of 16: checkpoints after batches 1 and 2 of each epoch, then the epoch's.
    const controller = new AbortController();
    const written: string[] = [];
    const crashed = {
      ...options(3, prefix),
      checkpointEveryBatches: 1,
      signal: controller.signal,
      onProgress: (p: TrainProgress) => {
        if (p.checkpoint) written.push(p.checkpoint);
        if (p.kind === 'batch' && p.epoch === 2 && p.batch === 1) controller.abort(new Error('worker killed'));
      },
    };
    await assert.rejects(fitModel(crashed), /worker killed/);
    assert.deepEqual(written, [`${prefix}/epoch-0-batch-1/`, `${prefix}/epoch-0-batch-2/`, `${prefix}/epoch-1/`, `${prefix}/epoch-1-batch-1/`]);

    const batches: number[] = [];
    const resumed = await fitModel({ ...options(3, prefix), checkpointEveryBatches: 1, onProgress: (p) => void (p.kind === 'batch' && p.epoch === 2 && batches.push(p.batch)) });
    assert.equal(resumed.resumedFromEpoch, 1);
    assert.deepEqual(batches, [2, 3], 'epoch 2 continues after its checkpointed batch');
    assert.deepEqual(resumed.history.map((h) => h.epoch), [1, 2, 3]);
    assert.deepEqual(resumed.history.map((h) => h.loss), uninterrupted.history.map((h) => h.loss));
    assert.equal(resumed.trainableWeightsSha256, uninterrupted.trainableWeightsSha256);
  });

  it('saves the trained model to the bucket and loads it back through an s3:// location', async () => {
    const opts = options(1, checkpointPrefix('wf-model', 'train'));
    await fitModel(opts);
    const key = await saveModelToStore(store, 'runs/wf-model/train/model', opts.built.model);
    assert.equal(key, 'runs/wf-model/train/model/model.json');
    const loaded = await loadLayersModel(await fetchLayersModelFiles(`s3://${store.bucket}/runs/wf-model/train/model`, store));
    await assert.rejects(fetchLayersModelFiles('s3://another-bucket/runs/wf-model/train/model', store), /is in bucket 'another-bucket'/);
    const [expected, actual] = tf.tidy(() => [opts.built.model.predict(data.x) as tf.Tensor, loaded.predict(data.x) as tf.Tensor]);
    assert.deepEqual(Array.from(await actual!.data()), Array.from(await expected!.data()));
    tf.dispose([expected!, actual!]);
    loaded.dispose();
  });
});
