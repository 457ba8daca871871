/**
 * Frozen-backbone feature extraction, tfjs wasm vs ONNX Runtime CPU, in one run, printing one
 * JSON object: images/s of MobileNet v1 0.75 at 224 px (the pretrained model in ../shared/models)
 * and VGG19 notop at 224 and 300 px (random weights: the speed does not depend on them), each
 * through the feature engines the train step uses (activities/features/feature-engine.ts): tfjs on
 * the wasm engine with its worker threads, and ONNX Runtime on its worker thread.
 * Targets on 2 cores: MobileNet ≥ 300 img/s, VGG19 300 px ≥ 5 img/s (ONNX Runtime).
 *
 * Usage: npm run bench:features -- [--models mobilenet,vgg19-224,vgg19-300] [--engines tfjs,onnxruntime]
 *   [--batches 5] [--mobilenet-batch 32] [--vgg-batch 4] [--tfjs-workers N] [--threads N] [--spinning] [--no-arena] [--images-per-run N]
 *   [--provider cpu|cuda|webgpu] [--mobilenet <dir with model.json>]
 * `--provider` picks ONNX Runtime's execution provider (default: CPU; on a GPU machine `cuda` after
 * `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`, or the experimental `webgpu`);
 * a provider that fails to start falls back to CPU, and the result's `skipped` says why.
 * The default run is short (5 timed batches after one warm-up batch per cell); raise --batches
 * and --vgg-batch for steadier figures.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { FEATURE_ENGINE_PREFERENCES, ModelSchema, type FeatureEngineName, type ModelSpec } from '../common/model-spec.ts';
import { selectEngine } from '../activities/engine/engine.ts';
import { selectFeatureEngine } from '../activities/features/feature-engine.ts';
import { buildBackboneGraph } from '../activities/features/onnx/backbone-graph.ts';
import { imageRuns, ORT_PROVIDERS, ortSessionOptions, type OrtProvider, type OrtSettings } from '../activities/features/onnx/ort-session-options.ts';
import { overlapped } from '../activities/features/overlapped.ts';
import type { PoolingKind } from '../activities/features/pooling.ts';
import { buildModel, type BuiltModel } from '../activities/training/model-builder.ts';
import { createModelPasses } from '../activities/training/model-passes.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: 'mobilenet,vgg19-224,vgg19-300' },
    engines: { type: 'string', default: 'tfjs,onnxruntime' },
    batches: { type: 'string', default: '5' },
    'mobilenet-batch': { type: 'string', default: '32' },
    'vgg-batch': { type: 'string', default: '4' },
    'tfjs-workers': { type: 'string', default: String(availableParallelism()) },
    threads: { type: 'string' },
    spinning: { type: 'boolean' },
    'no-arena': { type: 'boolean', default: false },
    'images-per-run': { type: 'string' },
    provider: { type: 'string' },
    mobilenet: { type: 'string', default: join(repoRoot, '..', 'shared', 'models', 'mobilenet_v1_0.75_224') },
  },
});

const MODELS = {
  mobilenet: { backbone: 'mobilenet_v1', inputSize: 224, head: 'globalAveragePooling', target: 300 },
  'vgg19-224': { backbone: 'vgg19', inputSize: 224, head: 'flatten', target: undefined },
  'vgg19-300': { backbone: 'vgg19', inputSize: 300, head: 'flatten', target: 5 },
} as const;
type ModelKey = keyof typeof MODELS;

function isModelKey(key: string): key is ModelKey {
  return key in MODELS;
}
function isFeatureEngine(name: string): name is FeatureEngineName {
  return FEATURE_ENGINE_PREFERENCES.some((engine) => engine === name && engine !== 'auto');
}

function providerArg(): OrtProvider | undefined {
  if (args.provider === undefined) return undefined;
  const provider = ORT_PROVIDERS.find((name) => name === args.provider);
  if (!provider) throw new Error(`--provider must be one of ${ORT_PROVIDERS.join(', ')}, got ${args.provider}`);
  return provider;
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function specOf(key: ModelKey): ModelSpec {
  const model = MODELS[key];
  return ModelSchema.parse({
    backbone: model.backbone,
    ...(model.backbone === 'mobilenet_v1' ? { weights: args.mobilenet } : {}),
    inputSize: model.inputSize,
    head: [{ type: model.head }, { type: 'dense', units: 2, activation: 'softmax' }],
  });
}

/**
 * Multiply-adds per image of the backbone's convolutions (the rest is noise next to them): the
 * bench turns images/s into GFLOP/s, so a figure can be set against the cores' float32 peak.
 */
function convMultiplyAdds(built: BuiltModel): number {
  let total = 0;
  for (const layer of built.backbone.layers) {
    const kind = layer.getClassName();
    if (kind !== 'Conv2D' && kind !== 'DepthwiseConv2D') continue;
    const kernel = layer.getWeights()[0];
    const out = layer.outputShape;
    if (!kernel || !Array.isArray(out) || Array.isArray(out[0])) continue;
    const [, h = 0, w = 0] = out as number[];
    // Conv2D kernel [kh, kw, in, out]; depthwise [kh, kw, in, multiplier]: both are h·w·(kernel size) per image.
    total += h * w * kernel.shape.reduce((a, b) => a * b, 1);
  }
  return total;
}

/**
 * The ceiling on this machine: the same graph and session settings run by a bare
 * `InferenceSession` in this thread (no worker, no copies), in the engine's runs. The gap between
 * it and the engine's figure is what the engine itself costs.
 */
async function bareSession(built: BuiltModel, pooling: PoolingKind[], x: tf.Tensor, batches: number, settings: OrtSettings | undefined): Promise<number | undefined> {
  if (!settings) return undefined;
  const graph = buildBackboneGraph(built.backbone, pooling);
  const session = await ort.InferenceSession.create(graph.model, ortSessionOptions(settings));
  try {
    const [images = 0, ...example] = x.shape;
    const values = await x.data();
    const perImage = example.reduce((a, b) => a * b, 1);
    const inputs = imageRuns(images, settings.imagesPerRun).map(
      ({ first, count }) => new ort.Tensor('float32', values.slice(first * perImage, (first + count) * perImage), [count, ...example]),
    );
    const once = async () => {
      for (const input of inputs) await session.run({ [graph.inputName]: input });
    };
    await once();
    const started = performance.now();
    for (let i = 0; i < batches; i++) await once();
    return round((images * batches) / ((performance.now() - started) / 1000), 2);
  } finally {
    await session.release();
  }
}

async function measure(key: ModelKey, engineName: FeatureEngineName, trainingEngine: string) {
  const spec = specOf(key);
  const batch = Number(spec.backbone === 'vgg19' ? args['vgg-batch'] : args['mobilenet-batch']);
  const batches = Number(args.batches);
  const built = await buildModel(spec, { seed: 1 });
  const passes = createModelPasses(built, { cached: true, foldBatchNorm: true });
  const threads = args.threads === undefined ? undefined : Number(args.threads);
  const provider = providerArg();
  const engine = await selectFeatureEngine({
    preference: engineName,
    backbone: built.backbone,
    passes,
    trainingEngine,
    workers: Number(args['tfjs-workers']),
    ...(provider ? { provider } : {}),
    ortSettings: { ...(threads !== undefined ? { threads } : {}), ...(args.spinning !== undefined ? { spinning: args.spinning } : {}), ...(args['no-arena'] ? { arena: false } : {}), ...(args['images-per-run'] !== undefined ? { imagesPerRun: Number(args['images-per-run']) } : {}) },
  });
  const x = tf.randomUniform([batch, spec.inputSize, spec.inputSize, 3], -1, 1, 'float32', 1);
  const extractor = await engine.start();
  try {
    // Warm-up: wasm compiles and allocates, ONNX Runtime plans memory, on first use.
    let started = performance.now();
    (await extractor.extract(x)).dispose();
    const warmupSeconds = (performance.now() - started) / 1000;
    // Timed as the train step's feature stage runs it (activities/features/feature-stage.ts): a
    // stream of batches, the next one handed over while the previous one is computed.
    started = performance.now();
    await overlapped(
      Array.from({ length: batches }, (_, i) => i),
      {
        start: () => extractor.extract(x),
        finish: async (_, features) => {
          await features.data();
          features.dispose();
        },
        discard: (_, features) => features.dispose(),
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const session = engine.engine === 'onnxruntime' ? await bareSession(built, passes.poolingKinds, x, batches, engine.ortSettings) : undefined;
    const imagesPerSecond = (batch * batches) / seconds;
    const multiplyAdds = convMultiplyAdds(built);
    return {
      model: key,
      inputSize: spec.inputSize,
      engine: engine.engine,
      device: engine.device,
      skipped: engine.skipped,
      batch,
      batches,
      warmupSeconds: round(warmupSeconds, 2),
      imagesPerSecond: round(imagesPerSecond, 2),
      ...(session === undefined ? {} : { bareSessionImagesPerSecond: session }),
      gigaMultiplyAddsPerImage: round(multiplyAdds / 1e9, 2),
      gflopsPerSecond: round((2 * multiplyAdds * imagesPerSecond) / 1e9, 1),
    };
  } finally {
    await extractor.close();
    await engine.release();
    x.dispose();
    passes.dispose();
    built.model.dispose();
  }
}

async function main(): Promise<void> {
  const models = args.models.split(',').filter(isModelKey);
  const engines = args.engines.split(',').filter(isFeatureEngine);
  const training = await selectEngine('wasm', { strict: true });
  const results: Awaited<ReturnType<typeof measure>>[] = [];
  for (const model of models) {
    for (const engine of engines) results.push(await measure(model, engine, training.engine));
  }
  const speedup = Object.fromEntries(
    models.map((model) => {
      const of = (engine: FeatureEngineName) => results.find((r) => r.model === model && r.engine === engine)?.imagesPerSecond;
      const ort = of('onnxruntime');
      const tfjs = of('tfjs');
      return [model, ort !== undefined && tfjs !== undefined && tfjs > 0 ? round(ort / tfjs) : null];
    }),
  );
  const targets = Object.fromEntries(
    models.flatMap((model) => {
      const target = MODELS[model].target;
      const ort = results.find((r) => r.model === model && r.engine === 'onnxruntime')?.imagesPerSecond;
      return target === undefined || ort === undefined ? [] : [[model, { imagesPerSecond: target, met: ort >= target }]];
    }),
  );
  console.log(
    JSON.stringify(
      {
        machine: { cpu: cpus()[0]?.model.trim(), cores: availableParallelism(), loadAverage1m: round(loadavg()[0] ?? 0, 2) },
        results,
        speedup,
        targets,
      },
      null,
      2,
    ),
  );
}

await main();
