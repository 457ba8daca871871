/**
 * Frozen-backbone feature extraction, tfjs wasm vs ONNX Runtime CPU, in one run, printing one
 * JSON object: images/s of MobileNet v1 0.75 at 224 px (the pretrained model in ../shared/models)
 * and VGG19 notop at 224 and 300 px (random weights: the speed does not depend on them), each
 * through the feature engines the train step uses (activities/engine/feature-engine.ts): tfjs on
 * the wasm engine with its worker threads, and ONNX Runtime on its worker thread.
 * Targets on 2 cores: MobileNet ≥ 300 img/s, VGG19 300 px ≥ 5 img/s (ONNX Runtime).
 *
 * Usage: npm run bench:features -- [--models mobilenet,vgg19-224,vgg19-300] [--engines tfjs,onnxruntime]
 *   [--batches 2] [--mobilenet-batch 32] [--vgg-batch 4] [--tfjs-workers N] [--threads N] [--spinning] [--no-arena]
 *   [--provider cpu|cuda|webgpu] [--mobilenet <dir with model.json>]
 * `--provider` picks ONNX Runtime's execution provider (default: CPU; on a GPU machine `cuda` after
 * `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`, or the experimental `webgpu`);
 * a provider that fails to start falls back to CPU, and the result's `skipped` says why.
 * The default run is short (2 timed batches after one warm-up batch per cell); raise --batches
 * and --vgg-batch for steadier figures.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { FEATURE_ENGINE_PREFERENCES, ModelSchema, type FeatureEngineName, type ModelSpec } from '../common/model-spec.ts';
import { selectEngine } from '../activities/engine/engine.ts';
import { selectFeatureEngine } from '../activities/engine/feature-engine.ts';
import { ORT_PROVIDERS, type OrtProvider } from '../activities/onnx/ort-session-options.ts';
import { buildModel } from '../activities/training/model-builder.ts';
import { createModelPasses } from '../activities/training/model-passes.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: 'mobilenet,vgg19-224,vgg19-300' },
    engines: { type: 'string', default: 'tfjs,onnxruntime' },
    batches: { type: 'string', default: '2' },
    'mobilenet-batch': { type: 'string', default: '32' },
    'vgg-batch': { type: 'string', default: '4' },
    'tfjs-workers': { type: 'string', default: String(availableParallelism()) },
    threads: { type: 'string' },
    spinning: { type: 'boolean' },
    'no-arena': { type: 'boolean', default: false },
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
    ortSettings: { ...(threads !== undefined ? { threads } : {}), ...(args.spinning !== undefined ? { spinning: args.spinning } : {}), ...(args['no-arena'] ? { arena: false } : {}) },
  });
  const x = tf.randomUniform([batch, spec.inputSize, spec.inputSize, 3], -1, 1, 'float32', 1);
  const extractor = await engine.start();
  try {
    const timed = async () => {
      const started = performance.now();
      const features = await extractor.extract(x);
      await features.data();
      features.dispose();
      return (performance.now() - started) / 1000;
    };
    // Warm-up: wasm compiles and allocates, ONNX Runtime plans memory, on first use.
    const warmupSeconds = await timed();
    let seconds = 0;
    for (let i = 0; i < batches; i++) seconds += await timed();
    return {
      model: key,
      inputSize: spec.inputSize,
      engine: engine.engine,
      device: engine.device,
      skipped: engine.skipped,
      batch,
      batches,
      warmupSeconds: round(warmupSeconds, 2),
      imagesPerSecond: round((batch * batches) / seconds, 2),
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
