/**
 * Model quality benchmark, printing one JSON object: trains the demo model (MobileNet v1 0.75,
 * 224 px, frozen by default, GAP + dense 64 + softmax head, as pipelines/demo.yaml) on a chest
 * X-ray folder with a seeded, stratified validation split carved from it, then reports the
 * validation ROC AUC, accuracy, ECE and Brier score (model output and Platt-calibrated), the
 * threshold `auto` chooses and the interval of thresholds that were equally good, next to the
 * old argmax rule's threshold, and the wall time. With --test-dir, the same model, calibration
 * and threshold are scored on another folder of the same layout. Uses the training and
 * evaluation area functions directly; no Temporal, no object storage.
 *
 * Usage: npm run bench:quality -- [--data <dir with NORMAL/ and PNEUMONIA/>] [--test-dir <dir>]
 *   [--limit N] [--epochs 3] [--seed 42] [--val-fraction 0.1] [--trainable '<json>'] [--feature-engine auto|onnxruntime|tfjs]
 *   [--learning-rate 0.001] [--mobilenet <dir with model.json>] [--holdout 0.1]
 *
 * --scores-out FILE writes the validation and test labels and P(PNEUMONIA) as JSON, for offline
 * comparisons of calibration methods and threshold rules without retraining.
 * --holdout F carves a seeded, stratified test split of share F from the data first (when no
 * --test-dir is given): a held-out check on this machine's data alone.
 */
import { availableParallelism } from 'node:os';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import pLimit from 'p-limit';
import { createRandom, shuffled } from '../common/prng.ts';
import { backboneLearningRateScale, FEATURE_ENGINE_PREFERENCES, ModelSchema, type FeatureEnginePreference } from '../common/model-spec.ts';
import { preprocessImage } from '../activities/data/preprocess.ts';
import { selectEngine } from '../activities/engine/engine.ts';
import { calibrate, fitCalibration } from '../activities/evaluation/write-evaluation.ts';
import { calibrationSummary, invertPlatt } from '../activities/evaluation/calibration.ts';
import { accuracy, predictAtThreshold, rocAuc, sensitivitySpecificity } from '../activities/evaluation/metrics.ts';
import { AUTO_RULE, chooseThreshold, youdenThreshold } from '../activities/evaluation/threshold.ts';
import { buildModel } from '../activities/training/model-builder.ts';
import { pixelSource, type PixelSplit } from '../activities/training/pixel-source.ts';
import { fitModel } from '../activities/training/trainer.ts';
import { preprocessBatch } from '../activities/training/input-preprocessing.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: join(repoRoot, '..', 'shared', 'data', 'chest-xray-224', 'train') },
    'test-dir': { type: 'string' },
    holdout: { type: 'string' },
    'scores-out': { type: 'string' },
    limit: { type: 'string' },
    epochs: { type: 'string', default: '3' },
    seed: { type: 'string', default: '42' },
    'val-fraction': { type: 'string', default: '0.1' },
    trainable: { type: 'string', default: 'false' },
    'feature-engine': { type: 'string', default: 'auto' },
    'learning-rate': { type: 'string', default: '0.001' },
    batch: { type: 'string', default: '32' },
    mobilenet: { type: 'string', default: join(repoRoot, '..', 'shared', 'models', 'mobilenet_v1_0.75_224', 'model.json') },
  },
});

/** `--feature-engine`: what computes a frozen backbone's features (the train step's `featureEngine`). */
function featureEnginePreference(value: string): FeatureEnginePreference {
  const preference = FEATURE_ENGINE_PREFERENCES.find((name) => name === value);
  if (!preference) throw new Error(`--feature-engine must be one of ${FEATURE_ENGINE_PREFERENCES.join(', ')}, got ${value}`);
  return preference;
}

const CLASSES = ['NORMAL', 'PNEUMONIA'] as const;
const POSITIVE = 1;
const SIZE = 224;
const seed = Number(args.seed);
const batchSize = Number(args.batch);

interface LabelledFile {
  path: string;
  label: number;
}

/** The images of a folder with NORMAL/ and PNEUMONIA/ subfolders (any case), sorted by path. */
async function listFolder(dir: string): Promise<LabelledFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: LabelledFile[] = [];
  for (const [label, name] of CLASSES.entries()) {
    const folder = entries.find((e) => e.isDirectory() && e.name.toUpperCase() === name);
    if (!folder) throw new Error(`bench:quality: ${dir} has no ${name}/ folder (expected ${CLASSES.join('/ and ')}/)`);
    const images = (await readdir(join(dir, folder.name))).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
    files.push(...images.map((f) => ({ path: join(dir, folder.name, f), label })));
  }
  return files;
}

/** A seeded, class-stratified share of `files` (each class shuffled, its first share taken). */
function stratified(files: readonly LabelledFile[], share: number, salt: string): { picked: LabelledFile[]; rest: LabelledFile[] } {
  const picked: LabelledFile[] = [];
  const rest: LabelledFile[] = [];
  for (const label of CLASSES.keys()) {
    const ofClass = shuffled(files.filter((f) => f.label === label), createRandom(seed, salt, label));
    const count = Math.round(ofClass.length * share);
    picked.push(...ofClass.slice(0, count));
    rest.push(...ofClass.slice(count));
  }
  return { picked, rest };
}

/** Decodes images as the download step stores them: 224×224 gray, one byte per pixel. */
async function loadPixels(files: readonly LabelledFile[]): Promise<PixelSplit> {
  const imageBytes = SIZE * SIZE;
  const pixels = new Uint8Array(files.length * imageBytes);
  const limit = pLimit(4);
  await Promise.all(
    files.map((file, i) =>
      limit(async () => {
        pixels.set(await preprocessImage(await readFile(file.path), { width: SIZE, height: SIZE, channels: 1, fit: 'fill' }), i * imageBytes);
      }),
    ),
  );
  return { count: files.length, height: SIZE, width: SIZE, channels: 1, pixels, labels: Int32Array.from(files.map((f) => f.label)) };
}

async function main(): Promise<void> {
  const started = performance.now();
  const engine = await selectEngine('wasm', { strict: true });
  const trainable: unknown = JSON.parse(args.trainable);
  const spec = ModelSchema.parse({
    backbone: 'mobilenet_v1',
    weights: args.mobilenet,
    featureLayer: 'conv_pw_13_relu',
    inputSize: SIZE,
    trainable,
    head: [
      { type: 'globalAveragePooling' },
      { type: 'dense', units: 64, activation: 'relu' },
      { type: 'dense', units: 2, activation: 'softmax' },
    ],
  });

  let all = await listFolder(args.data);
  if (args.limit !== undefined) all = stratified(all, Math.min(1, Number(args.limit) / all.length), 'limit').picked;
  const holdout = args['test-dir'] === undefined && args.holdout !== undefined ? stratified(all, Number(args.holdout), 'holdout') : undefined;
  if (holdout) all = holdout.rest;
  const { picked: valFiles, rest: trainFiles } = stratified(all, Number(args['val-fraction']), 'validation');
  const loadStarted = performance.now();
  const [trainPixels, valPixels] = [await loadPixels(trainFiles), await loadPixels(valFiles)];
  const loadSeconds = (performance.now() - loadStarted) / 1000;

  const built = await buildModel(spec, { seed, capabilities: engine.capabilities, engineName: engine.engine });
  const common = { batchSize, classes: CLASSES.length, preprocessing: spec.preprocessing };
  const trainStarted = performance.now();
  const result = await fitModel({
    built,
    settings: {
      optimizer: { name: 'adam', learningRate: Number(args['learning-rate']) },
      loss: 'categoricalCrossentropy',
      epochs: Number(args.epochs),
      batchSize,
      seed,
      // The backbone's own rate, as the train step sets it from model.trainable.learningRateScale.
      backboneLearningRateScale: backboneLearningRateScale(spec.trainable),
    },
    train: pixelSource(trainPixels, common),
    validation: pixelSource(valPixels, { ...common, shuffle: false }),
    engineName: engine.engine,
    featureWorkers: availableParallelism(),
    featureEngine: featureEnginePreference(args['feature-engine']),
  });
  const trainSeconds = (performance.now() - trainStarted) / 1000;

  /** P(PNEUMONIA) of every image, through the whole trained model, as evaluate scores it. */
  const predict = async (split: PixelSplit): Promise<number[]> => {
    const scores: number[] = [];
    const imageBytes = split.height * split.width;
    for (let start = 0; start < split.count; start += batchSize) {
      const n = Math.min(batchSize, split.count - start);
      const bytes = split.pixels.subarray(start * imageBytes, (start + n) * imageBytes);
      const out = tf.tidy(() => {
        const x = preprocessBatch(tf.tensor4d(bytes, [n, split.height, split.width, 1], 'int32'), spec.preprocessing);
        const y = built.model.predict(x);
        if (!(y instanceof tf.Tensor)) throw new Error('bench:quality: the model has several outputs');
        return y;
      });
      const values = await out.data();
      out.dispose();
      for (let i = 0; i < n; i++) scores.push(values[i * 2 + POSITIVE] ?? 0);
    }
    return scores;
  };

  const predictStarted = performance.now();
  const valLabels = Array.from(valPixels.labels);
  const valRaw = await predict(valPixels);
  const calibration = fitCalibration({ split: 'val', labels: valLabels, scores: valRaw });
  const valCalibrated = valRaw.map((p) => calibrate(calibration, p));
  const choice = chooseThreshold({ split: 'val', labels: valLabels, scores: valCalibrated }, AUTO_RULE, 'calibrated');
  const argmax = youdenThreshold({ split: 'val', labels: valLabels, scores: valRaw });
  const round = (x: number) => Number(x.toFixed(6));
  const scored = (labels: number[], raw: number[], calibrated: number[]) => {
    const at = (scores: number[], threshold: number) => {
      const predicted = predictAtThreshold(scores, threshold);
      const { sensitivity, specificity } = sensitivitySpecificity(labels, predicted);
      return { threshold: round(threshold), accuracy: round(accuracy(labels, predicted)), sensitivity: round(sensitivity), specificity: round(specificity) };
    };
    const rawSummary = calibrationSummary(labels, raw);
    const calibratedSummary = calibrationSummary(labels, calibrated);
    return {
      images: labels.length,
      positives: labels.filter((l) => l === 1).length,
      auc: round(rocAuc(labels, raw)),
      auto: at(calibrated, choice.value),
      argmaxYouden: at(raw, argmax.value),
      rawHalf: at(raw, 0.5),
      ece: { raw: round(rawSummary.ece), calibrated: round(calibratedSummary.ece), bins: rawSummary.bins },
      brier: { raw: round(rawSummary.brier), calibrated: round(calibratedSummary.brier) },
    };
  };
  const validation = scored(valLabels, valRaw, valCalibrated);
  let test: ReturnType<typeof scored> | undefined;
  let testScores: { labels: number[]; scores: number[] } | undefined;
  const testFiles = args['test-dir'] ? await listFolder(args['test-dir']) : holdout?.picked;
  if (testFiles) {
    const testPixels = await loadPixels(testFiles);
    const testRaw = await predict(testPixels);
    test = scored(Array.from(testPixels.labels), testRaw, testRaw.map((p) => calibrate(calibration, p)));
    testScores = { labels: Array.from(testPixels.labels), scores: testRaw };
  }
  const predictSeconds = (performance.now() - predictStarted) / 1000;
  if (args['scores-out']) {
    await writeFile(args['scores-out'], JSON.stringify({ validation: { labels: valLabels, scores: valRaw }, ...(testScores ? { test: testScores } : {}) }));
  }
  built.model.dispose();

  console.log(
    JSON.stringify(
      {
        benchmark: 'quality',
        data: args.data,
        testDir: args['test-dir'] ?? null,
        holdout: holdout ? Number(args.holdout) : null,
        engine: engine.engine,
        featureEngine: result.featureEngine,
        cores: availableParallelism(),
        model: { backbone: 'mobilenet_v1_0.75_224', trainable: spec.trainable, head: 'gap-dense64-softmax', epochs: result.history.length, learningRate: Number(args['learning-rate']) },
        seed,
        trainImages: trainPixels.count,
        valImages: valPixels.count,
        calibration,
        threshold: {
          rule: 'auto: Youden J on Platt-calibrated validation probabilities, equally good within one validation image, middle of the interval',
          value: round(choice.value),
          interval: { low: round(choice.interval.low), high: round(choice.interval.high) },
          tolerance: round(choice.tolerance),
          bestJ: round(choice.best),
          // The same interval on the model's own probability scale.
          rawValue: round(calibration.method === 'platt' ? invertPlatt(calibration, choice.value) : choice.value),
          argmaxYoudenRaw: round(argmax.value),
        },
        validation,
        ...(test ? { test } : {}),
        finalEpoch: result.history.at(-1),
        seconds: { load: round(loadSeconds), train: round(trainSeconds), features: round(result.featureSeconds), predict: round(predictSeconds), wall: round((performance.now() - started) / 1000) },
      },
      null,
      2,
    ),
  );
}

await main();
