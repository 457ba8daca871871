/**
 * MobileNet v1 (0.75, 224 px) fine-tuning speed on the CPU (wasm) engine, printing one JSON
 * object: seconds per training step (batch of `--batch` images, adam) for
 * - the frozen backbone with a head trained on cached features (what `trainable: false` runs
 *   after its one feature pass),
 * - the frozen backbone run every step (folded batch-norm, no cache; what an augmenting run
 *   without feature views would pay),
 * - `trainable: { from: <layer> }` for each `--from` layer: the frozen prefix folded and outside
 *   the tape, the trained tail forward and backward through the wasm depthwise and conv
 *   gradient kernels.
 * Each configuration takes one warm-up step (wasm compiles and allocates on first use), then
 * `--steps` timed steps. The steps are the trainer's own (model-passes + optimizerStep).
 *
 * Usage: npm run bench:finetune -- [--batch 16] [--steps 3] [--from conv_pw_13,conv_dw_13,conv_dw_12,conv_dw_7] [--mobilenet <dir with model.json>]
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { ModelSchema, type Trainable } from '../common/model-spec.ts';
import { engineInfo, selectEngine } from '../activities/engine/engine.ts';
import { lossTargets } from '../activities/training/loss-targets.ts';
import { buildModel } from '../activities/training/model-builder.ts';
import { createModelPasses } from '../activities/training/model-passes.ts';
import { createOptimizer } from '../activities/training/optimizers.ts';
import { optimizerStep } from '../activities/training/training-loop.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '16' },
    steps: { type: 'string', default: '3' },
    from: { type: 'string', default: 'conv_pw_13,conv_dw_13,conv_dw_12,conv_dw_7' },
    mobilenet: { type: 'string', default: join(repoRoot, '..', 'shared', 'models', 'mobilenet_v1_0.75_224') },
  },
});
const batchSize = Number(args.batch);
const steps = Number(args.steps);
const fromLayers = args.from.split(',').filter((name) => name.length > 0);

function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

interface StepTiming {
  secondsPerStep: number;
  imagesPerSecond: number;
  /** Backbone layers that hold weights and train (0: frozen). */
  trainedBackboneLayers: number;
  trainableParameters: number;
}

/** Seconds per optimizer step of `trainable`, on images or, with `cached`, on pooled features. */
async function timeSteps(trainable: Trainable, x: tf.Tensor, y: tf.Tensor, cached: boolean): Promise<StepTiming> {
  const engine = await selectEngine('wasm', { strict: true });
  const spec = ModelSchema.parse({
    backbone: 'mobilenet_v1',
    weights: args.mobilenet,
    inputSize: 224,
    trainable,
    head: [{ type: 'globalAveragePooling' }, { type: 'dense', units: 2, activation: 'softmax' }],
  });
  const built = await buildModel(spec, { seed: 1, capabilities: engine.capabilities, engineName: engine.engine });
  const passes = createModelPasses(built, { cached, foldBatchNorm: true });
  const optimizer = createOptimizer({ name: 'adam', learningRate: 1e-4 });
  const trainableVariables = built.model.trainableWeights.map((weight) => {
    const variable = tf.engine().registeredVariables[weight.name];
    if (!variable) throw new Error(`no variable ${weight.name}`);
    return variable;
  });
  const step = optimizerStep({ passes, targetsOf: lossTargets(built.outputUnits, undefined), loss: 'categoricalCrossentropy', optimizer, trainable: trainableVariables });
  // Cached runs train on pooled features, computed once outside the timing (as the feature stage does).
  const input = cached ? tf.tidy(() => passes.frozenFeatures(x)) : x;
  const run = async (index: number) => {
    const stats = step({ x: input, y }, `bench:${index}`);
    await stats.data();
    stats.dispose();
  };
  await run(0);
  const started = performance.now();
  for (let i = 1; i <= steps; i++) await run(i);
  const secondsPerStep = (performance.now() - started) / 1000 / steps;
  const timing = {
    secondsPerStep: round(secondsPerStep),
    imagesPerSecond: round(batchSize / secondsPerStep, 1),
    trainedBackboneLayers: built.backbone.layers.filter((layer) => layer.trainable && layer.weights.length > 0).length,
    trainableParameters: built.model.trainableWeights.reduce((sum, weight) => sum + weight.read().size, 0),
  };
  if (cached) input.dispose();
  optimizer.dispose();
  passes.dispose();
  built.model.dispose();
  return timing;
}

async function main(): Promise<void> {
  const engine = await selectEngine('wasm', { strict: true });
  const x = tf.randomUniform([batchSize, 224, 224, 3], -1, 1, 'float32', 1);
  const labels = tf.tensor1d(Array.from({ length: batchSize }, (_, i) => i % 2), 'int32');
  const y = tf.cast(tf.oneHot(labels, 2), 'float32');
  labels.dispose();

  const frozenCached = await timeSteps(false, x, y, true);
  const frozenUncached = await timeSteps(false, x, y, false);
  const fineTuned: Record<string, StepTiming> = {};
  for (const from of fromLayers) fineTuned[from] = await timeSteps({ from }, x, y, false);
  tf.dispose([x, y]);

  console.log(
    JSON.stringify(
      {
        engine: engineInfo(engine),
        model: 'mobilenet_v1_0.75_224, head: globalAveragePooling + dense 2 softmax, adam',
        batchSize,
        timedSteps: steps,
        frozenHeadOnCachedFeatures: frozenCached,
        frozenBackboneEveryStep: frozenUncached,
        fineTunedFrom: fineTuned,
        numTensorsAtEnd: tf.memory().numTensors,
      },
      null,
      2,
    ),
  );
}

await main();
