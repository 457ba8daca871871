import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { writeSyntheticDataset, zipFolder } from '../../activities/data/synthetic.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { requestWebGpuAdapter } from '../../activities/engine/webgpu-adapter.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { fetchLayersModelFiles } from '../../activities/model-io/layers-model-io.ts';
import { readKerasWeights } from '../../activities/weights/keras-h5.ts';
import { vgg19NotopFixture } from '../helpers/keras-h5-fixture.ts';
import { startCliWorker, type CliWorker } from '../helpers/cli-worker.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

/**
 * The seed's own pipeline, pipelines/pneumonia-vgg19.yaml itself (not a copy), run end to end by
 * the CLI and a worker process on the real dev server and S3 server, changed only by `--set`:
 * a synthetic chest X-ray archive as file://, VGG19 notop weights with seeded random values in
 * the official .h5 layout, 32 px images, 2 + 2 epochs. All seven steps must succeed, and the
 * full retrain must start from the partial model's weights.
 */
describe('the seed pipeline (pipelines/pneumonia-vgg19.yaml) end to end', function () {
  this.timeout(600_000);
  let servers: TestServers;
  let cli: CliWorker;
  let weightsPath: string;
  let settings: string[];
  const prefix = `seed-${randomUUID().slice(0, 8)}`;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'seed' });
    const data = join(servers.dir, 'synthetic');
    await writeSyntheticDataset({
      dir: data,
      seed: 16,
      size: 64,
      counts: { train: { NORMAL: 50, PNEUMONIA: 50 }, test: { NORMAL: 20, PNEUMONIA: 20 } },
    });
    const zip = join(servers.dir, 'ChestXRay2017-synthetic.zip');
    await zipFolder(data, zip);
    weightsPath = await vgg19NotopFixture();
    settings = [
      ...['--set', `dataset=${pathToFileURL(zip).href}`],
      ...['--set', `vgg19Weights=${pathToFileURL(weightsPath).href}`],
      ...['--set', 'imageSize=32', '--set', 'partialEpochs=2', '--set', 'fullEpochs=2'],
    ];
    cli = startCliWorker(servers, { prefix });
  });

  after(async () => {
    await cli?.stop();
    await servers?.stop();
  });

  const mlp = (...args: string[]) => cli.mlp(...args);

  const trainSchema = z
    .object({ model: z.string(), weightsSha256: z.string().length(64), initialWeightsSha256: z.string().length(64), epochs: z.literal(2), engine: z.string(), trainImages: z.number() })
    .loose();
  const runSchema = z.object({
    workflowId: z.string(),
    status: z.literal('completed'),
    outputs: z.object({
      download: z.object({ datasetHash: z.string().length(64) }).loose(),
      'subset-partial': z.object({ trainManifest: z.string() }).loose(),
      'train-partial': trainSchema,
      'subset-full': z.object({ testManifest: z.string() }).loose(),
      'train-full': trainSchema,
      evaluate: z.object({ metrics: z.object({ auc: z.number(), accuracy: z.number() }).loose(), testSize: z.number(), report: z.string() }).loose(),
      publish: z.object({ version: z.number(), promoted: z.boolean() }).loose(),
    }),
  });

  it('runs all seven steps with only --set overrides; the full retrain starts from the partial model', async () => {
    const result = await mlp('run', 'pipelines/pneumonia-vgg19.yaml', ...settings, '--run-key', 'ci', '--wait', '--json');
    assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}\n(worker log: ${cli.logFile})`);
    const run = runSchema.parse(JSON.parse(result.stdout));
    const { 'train-partial': partial, 'train-full': full, evaluate, publish } = run.outputs;

    // The worker picks its engine itself (engine: auto): webgpu where Dawn finds an adapter, else wasm.
    const adapter = await requestWebGpuAdapter();
    const expectedEngine = 'description' in adapter ? 'webgpu' : 'wasm';
    assert.equal(partial.engine, expectedEngine);
    assert.equal(full.engine, expectedEngine);
    assert.ok(full.trainImages > partial.trainImages, 'the full run trains on more images');
    // Warm start: the full retrain's weights before its first epoch are the partial run's final ones,
    // not a fresh initialization (the partial run's own start), and it trained on from there.
    assert.equal(full.initialWeightsSha256, partial.weightsSha256);
    assert.notEqual(partial.initialWeightsSha256, partial.weightsSha256, JSON.stringify(run.outputs, null, 1));
    assert.notEqual(full.weightsSha256, full.initialWeightsSha256);
    assert.equal(evaluate.testSize, 40, 'every synthetic test image scored once');
    assert.ok(evaluate.metrics.auc >= 0 && evaluate.metrics.auc <= 1);
    assert.equal(publish.version, 1);

    // The backbone the pipeline trained on is the .h5 file's: its saved block1_conv1 kernel is the file's.
    await selectEngine('cpu', { strict: true });
    const store = new ObjectStore(servers.storage);
    const files = await fetchLayersModelFiles(`s3://${store.bucket}/${full.model}`, store);
    const saved = tf.io.decodeWeights(files.weightData, files.weightSpecs);
    try {
      const kernelName = Object.keys(saved).find((name) => name.endsWith('block1_conv1/kernel'));
      assert.ok(kernelName, `a block1_conv1 kernel among ${Object.keys(saved).join(', ')}`);
      const file = await readKerasWeights(weightsPath, 'fixture');
      const expected = file.layers.find((layer) => layer.layer === 'block1_conv1')?.weights[0]?.values;
      assert.deepEqual(Float32Array.from(await (saved[kernelName] ?? tf.scalar(0)).data()), expected);
    } finally {
      tf.dispose(Object.values(saved));
    }
  });
});
