/**
 * GPU benchmark through the project's own training code: the notebook's model (VGG19 frozen →
 * Flatten → Dense 64/128/256/128 → Dense 2 softmax, RMSprop 2e-5) on synthetic images, on the
 * best engine available (webgpu on a GPU machine). Prints one JSON object (also written to
 * $OUT/gpu-bench.json when OUT is set).
 *
 * - frozenStep: training without the feature cache (VGG19 forward + head step each batch), the
 *   workload of the raw tfjs-webgpu figure (185 img/s at 300 px, batch 20, H200);
 * - featureCache: features computed once, then head-only epochs;
 * - crossCheck: a small conv net's loss and gradients on the selected backend vs the cpu backend
 *   (same inputs), so a fast number is also a correct one.
 *
 * Here: `npx tsx bench/gpu.ts --size 32 --images 8 --batch 4` (smoke test on wasm).
 * GPU machine: bundle with esbuild (recipe in ../shared/gpu/README.md and README) and run through the device tool.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { version_cpu as cpuBackendVersion } from '@tensorflow/tfjs-backend-cpu';
import { ModelSchema, type TrainSettings } from '../common/model-spec.ts';
import { createRandom } from '../common/prng.ts';
import { engineInfo, selectEngine } from '../activities/engine/engine.ts';
import { tensorSource } from '../activities/data/batch-source.ts';
import { buildModel } from '../activities/training/model-builder.ts';
import { fitModel } from '../activities/training/trainer.ts';

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '300' },
    batch: { type: 'string', default: '20' },
    images: { type: 'string', default: '200' },
    epochs: { type: 'string', default: '3' },
    engine: { type: 'string', default: 'auto' },
    optimizer: { type: 'string', default: 'rmsprop' },
  },
});
const size = Number(args.size);
const batchSize = Number(args.batch);
const images = Number(args.images);
const epochs = Number(args.epochs);

function round(value: number, digits = 1): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}

/** Steady-state images/s: epochs after the first (which compiles shaders and allocates). */
function steadyImagesPerSecond(seconds: number[]): number {
  const steady = seconds.length > 1 ? seconds.slice(1) : seconds;
  return round(images / (steady.reduce((a, b) => a + b, 0) / steady.length));
}

/** Loss and gradients of conv3x3 → relu → mean-pool → dense on fixed inputs, on one backend. */
async function smallNetGradients(backend: string): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const random = createRandom('gpu-cross-check');
  const values = (n: number, scale: number) => Float32Array.from({ length: n }, () => (random() - 0.5) * scale);
  const x = tf.tensor4d(values(4 * 16 * 16 * 3, 2), [4, 16, 16, 3]);
  const kernel = tf.tensor4d(values(3 * 3 * 3 * 8, 0.5), [3, 3, 3, 8]);
  const dense = tf.tensor2d(values(8 * 2, 0.5), [8, 2]);
  const { value, grads } = tf.valueAndGrads((k: tf.Tensor, d: tf.Tensor) => {
    const features = tf.mean(tf.relu(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 1, 'same')), [1, 2]);
    return tf.sum(tf.square(tf.matMul(features as tf.Tensor2D, d as tf.Tensor2D)));
  })([kernel, dense]);
  const out = await Promise.all([value, ...grads].map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([x, kernel, dense, value, ...grads]);
  return out;
}

/** Largest relative difference between the selected backend's results and cpu's. */
async function crossCheck(backend: string): Promise<{ against: string; maxRelativeError: number }> {
  const fast = await smallNetGradients(backend);
  const reference = await smallNetGradients('cpu');
  await tf.setBackend(backend);
  let worst = 0;
  fast.forEach((values, i) => {
    const expected = reference[i] as Float32Array;
    const scale = Math.max(...Array.from(expected, Math.abs), 1e-12);
    values.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - (expected[j] as number)) / scale)));
  });
  return { against: `cpu ${cpuBackendVersion}`, maxRelativeError: Number(worst.toExponential(2)) };
}

async function main(): Promise<void> {
  const preference = args.engine === 'webgpu' || args.engine === 'wasm' || args.engine === 'cpu' ? args.engine : 'auto';
  const engine = await selectEngine(preference);
  const spec = ModelSchema.parse({
    backbone: 'vgg19',
    inputSize: size,
    trainable: false,
    head: [
      { type: 'flatten' },
      { type: 'dense', units: 64 },
      { type: 'dense', units: 128 },
      { type: 'dense', units: 256 },
      { type: 'dense', units: 128 },
      { type: 'dense', units: 2, activation: 'softmax' },
    ],
  });
  // The notebook's RMSprop 2e-5 by default; `--optimizer adam` measures the demo's optimizer.
  const optimizer = args.optimizer === 'adam' ? { name: 'adam' as const, learningRate: 1e-3 } : { name: 'rmsprop' as const, learningRate: 2e-5 };
  const settings: TrainSettings = { optimizer, loss: 'categoricalCrossentropy', epochs, batchSize, seed: 1 };
  const x = tf.randomUniform([images, size, size, 3], 0, 1, 'float32', 1);
  const labels = tf.tensor1d(Array.from({ length: images }, (_, i) => i % 2), 'int32');
  const y = tf.cast(tf.oneHot(labels, 2), 'float32');
  labels.dispose();

  const built = await buildModel(spec, { seed: 1, capabilities: engine.capabilities, engineName: engine.engine });
  let started = performance.now();
  const frozen = await fitModel({ featureEngine: 'tfjs', built, settings, train: tensorSource(x, y, { batchSize }), cacheFeatures: false });
  const frozenSeconds = (performance.now() - started) / 1000;

  started = performance.now();
  const cached = await fitModel({ featureEngine: 'tfjs', built, settings, train: tensorSource(x, y, { batchSize }), cacheFeatures: true });
  const cachedSeconds = (performance.now() - started) / 1000;
  built.model.dispose();
  tf.dispose([x, y]);

  const frozenEpochs = frozen.history.map((h) => h.seconds);
  const headEpochs = cached.history.map((h) => h.seconds);
  const result = {
    engine: engineInfo(engine),
    workload: { model: 'notebook VGG19 frozen + dense head', size, batchSize, images, epochs, optimizer: optimizer.name },
    frozenStep: { imagesPerSecond: steadyImagesPerSecond(frozenEpochs), epochSeconds: frozenEpochs.map((s) => round(s, 2)), totalSeconds: round(frozenSeconds, 2) },
    featureCache: {
      featureImagesPerSecond: round(images / cached.featureSeconds),
      headImagesPerSecond: steadyImagesPerSecond(headEpochs),
      totalSeconds: round(cachedSeconds, 2),
      featureSeconds: round(cached.featureSeconds, 2),
    },
    crossCheck: await crossCheck(engine.backend),
    target: { imagesPerSecond: 170, rawTfjsWebgpuH200: 185 },
  };
  const text = JSON.stringify(result, null, 2);
  if (process.env['OUT']) writeFileSync(join(process.env['OUT'], 'gpu-bench.json'), `${text}\n`);
  console.log(text);
}

await main();
