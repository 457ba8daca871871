/**
 * Training-engine benchmark on the CPU (wasm) engine, printing one JSON object:
 * - frozen MobileNet v1 (0.75, 224 px) feature extraction, images/s;
 * - head training on cached features, images/s;
 * - a frozen-backbone training run with and without the feature cache (epoch times);
 * - a small conv net trained end to end through the registered wasm conv gradients.
 *
 * Usage: npm run bench:train -- [--images 64] [--epochs 3] [--workers 2] [--mobilenet <dir with model.json>]
 */
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ModelSchema, type TrainSettings } from '../common/model-spec.ts';
import { engineInfo, selectEngine } from '../activities/engine/engine.ts';
import { createFeaturePool } from '../activities/features/feature-pool.ts';
import { tensorSource } from '../activities/data/batch-source.ts';
import { foldedInference } from '../activities/model-io/folded-inference.ts';
import { buildModel } from '../activities/training/model-builder.ts';
import { fitModel } from '../activities/training/trainer.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '64' },
    epochs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '32' },
    mobilenet: { type: 'string', default: join(repoRoot, '..', 'shared', 'models', 'mobilenet_v1_0.75_224') },
    workers: { type: 'string', default: String(availableParallelism()) },
  },
});
const images = Number(args.images);
const epochs = Number(args.epochs);
const batchSize = Number(args.batch);
const workers = Number(args.workers);

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function predictTensor(model: tfl.LayersModel, x: tf.Tensor): tf.Tensor {
  const out = model.predict(x);
  if (Array.isArray(out)) throw new Error('expected one output');
  return out;
}

async function main(): Promise<void> {
  const engine = await selectEngine('wasm', { strict: true });
  const spec = ModelSchema.parse({
    backbone: 'mobilenet_v1',
    weights: args.mobilenet,
    inputSize: 224,
    head: [
      { type: 'globalAveragePooling' },
      { type: 'dense', units: 128, activation: 'relu' },
      { type: 'dropout', rate: 0.2 },
      { type: 'dense', units: 2, activation: 'softmax' },
    ],
  });
  const x = tf.randomUniform([images, 224, 224, 3], -1, 1, 'float32', 1);
  const labels = tf.tensor1d(Array.from({ length: images }, (_, i) => i % 2), 'int32');
  const y = tf.cast(tf.oneHot(labels, 2), 'float32');
  labels.dispose();

  // 1. Feature extraction alone, as stored and with batch-norm folded (warm-up batch first:
  //    wasm compiles and allocates on first use).
  const built = await buildModel(spec, { seed: 1, capabilities: engine.capabilities, engineName: engine.engine });
  let started: number;
  const folded = foldedInference(built.backbone);
  const extractionSeconds = async (run: (x: tf.Tensor) => tf.Tensor): Promise<number> => {
    tf.dispose(tf.tidy(() => run(tf.slice(x, 0, Math.min(batchSize, images)))));
    const started = performance.now();
    for (let start = 0; start < images; start += batchSize) {
      const features = tf.tidy(() => run(tf.slice(x, start, Math.min(batchSize, images - start))));
      await features.data();
      features.dispose();
    }
    return (performance.now() - started) / 1000;
  };
  const unfoldedSeconds = await extractionSeconds((batch) => predictTensor(built.backbone, batch));
  const foldedSeconds = await extractionSeconds((batch) => folded.run(batch));
  folded.dispose();
  // Folded, pooled, and split over one worker thread per core (each its own wasm engine).
  const pool = await createFeaturePool(built.backbone, { workers, pooling: ['globalAveragePooling'] });
  await pool.extract(tf.slice(x, 0, Math.min(batchSize, images))).then((t) => t.dispose());
  started = performance.now();
  for (let start = 0; start < images; start += batchSize) {
    const batch = tf.slice(x, start, Math.min(batchSize, images - start));
    (await pool.extract(batch)).dispose();
    batch.dispose();
  }
  const workerSeconds = (performance.now() - started) / 1000;
  await pool.close();
  // 2 and 3. Training with the feature cache (features once, then head-only epochs) and without.
  const settings: TrainSettings = { optimizer: { name: 'rmsprop', learningRate: 1e-3 }, loss: 'categoricalCrossentropy', epochs, batchSize, seed: 1 };
  started = performance.now();
  const cached = await fitModel({ featureEngine: 'tfjs', built, settings, train: tensorSource(x, y, { batchSize }), cacheFeatures: true });
  const cachedSeconds = (performance.now() - started) / 1000;
  built.model.dispose();

  const uncachedModel = await buildModel(spec, { seed: 1 });
  started = performance.now();
  const uncached = await fitModel({ featureEngine: 'tfjs', built: uncachedModel, settings, train: tensorSource(x, y, { batchSize }), cacheFeatures: false });
  const uncachedSeconds = (performance.now() - started) / 1000;
  uncachedModel.model.dispose();

  // 4. A small conv net trained end to end (the reference workload for the wasm conv gradients).
  const conv = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [128, 128, 3], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: 2, activation: 'softmax' }),
    ],
  });
  conv.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const cx = tf.randomUniform([8, 128, 128, 3]);
  const cy = tf.slice(y, 0, 8);
  await conv.trainOnBatch(cx, cy);
  const steps = 3;
  started = performance.now();
  for (let i = 0; i < steps; i++) await conv.trainOnBatch(cx, cy);
  const convStepSeconds = (performance.now() - started) / 1000 / steps;
  conv.dispose();
  tf.dispose([cx, cy, x, y]);

  const featureEpochSeconds = cached.history.map((h) => h.seconds);
  const uncachedEpochSeconds = uncached.history.map((h) => h.seconds);
  console.log(
    JSON.stringify(
      {
        engine: engineInfo(engine),
        images,
        batchSize,
        epochs,
        mobilenetFeatureExtraction: {
          imagesPerSecond: round(images / unfoldedSeconds),
          batchNormFoldedImagesPerSecond: round(images / foldedSeconds),
          [`batchNormFolded${workers}WorkersImagesPerSecond`]: round(images / workerSeconds),
        },
        headTrainingOnCachedFeatures: {
          imagesPerSecond: round(images / (featureEpochSeconds.reduce((a, b) => a + b, 0) / epochs)),
          epochSeconds: featureEpochSeconds.map((s) => round(s, 3)),
        },
        frozenBackboneRun: {
          withFeatureCache: { totalSeconds: round(cachedSeconds, 2), featureSeconds: round(cached.featureSeconds, 2), epochSeconds: featureEpochSeconds.map((s) => round(s, 3)) },
          withoutFeatureCache: { totalSeconds: round(uncachedSeconds, 2), epochSeconds: uncachedEpochSeconds.map((s) => round(s, 2)) },
          trainImagesPerSecond: { withFeatureCache: round((images * epochs) / cachedSeconds), withoutFeatureCache: round((images * epochs) / uncachedSeconds) },
        },
        smallConvNetTrainStep: { input: '8x128x128x3, conv 16/32/64, adam', secondsPerStep: round(convStepSeconds, 3), imagesPerSecond: round(8 / convStepSeconds) },
        numTensorsAtEnd: tf.memory().numTensors,
      },
      null,
      2,
    ),
  );
}

await main();
