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
 *   [--learning-rate 0.001] [--mobilenet <dir with model.json>] [--holdout 0.1] [--class-weights none|balanced]
 *   [--shift 0.4,0.9]
 *
 * --scores-out FILE writes the validation and test labels and P(PNEUMONIA) as JSON, for offline
 * comparisons of calibration methods and threshold rules without retraining.
 * --holdout F carves a seeded, stratified test split of share F from the data first (when no
 * --test-dir is given): a held-out check on this machine's data alone.
 * --shift P1,P2 (with a test split; default 0.4,0.9): prior-shifted tests drawn from it, seeded,
 * at each positive share (all of the scarcer class kept, the other subsampled), scored under
 * the old auto (Youden, calibrated, before issue 27), the new auto as the evaluate step applies
 * it (guarded, re-targeted to the EM estimate of the test prior when the shift warning fires),
 * the guarded rule alone, 0.5 and the best threshold in hindsight, with the test share
 * estimated from the scores (EM) against the truth.
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
import { autoForTestPrior, guardedAutoThreshold } from '../activities/evaluation/guarded-threshold.ts';
import { DEFAULT_SHIFT_MARGIN, priorShift } from '../activities/evaluation/prior-shift.ts';
import { resolveClassWeights } from '../activities/training/class-weights.ts';
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
    'class-weights': { type: 'string', default: 'none' },
    shift: { type: 'string', default: '0.4,0.9' },
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

/**
 * A seeded subsample of `labels`' indices with positive share `prevalence`: every example of the
 * class that runs out first is kept, the other class is subsampled to match.
 */
function priorShifted(labels: readonly number[], prevalence: number, salt: string): number[] {
  const positives = labels.flatMap((l, i) => (l === 1 ? [i] : []));
  const negatives = labels.flatMap((l, i) => (l === 1 ? [] : [i]));
  const wantNegatives = Math.round((positives.length * (1 - prevalence)) / prevalence);
  const [keepPositives, keepNegatives] =
    wantNegatives <= negatives.length ? [positives.length, wantNegatives] : [Math.round((negatives.length * prevalence) / (1 - prevalence)), negatives.length];
  const pick = (indices: number[], count: number, label: number) => shuffled(indices, createRandom(seed, salt, prevalence, label)).slice(0, count);
  return [...pick(negatives, keepNegatives, 0), ...pick(positives, keepPositives, 1)].sort((a, b) => a - b);
}

/** The best accuracy any threshold reaches on these scores (the hindsight optimum, for reference only). */
function hindsightAccuracy(labels: readonly number[], scores: readonly number[]): { accuracy: number; threshold: number } {
  const order = scores.map((s, i) => ({ s, l: labels[i] ?? 0 })).sort((a, b) => b.s - a.s);
  const negatives = order.filter((o) => o.l === 0).length;
  // Nothing predicted positive: every negative right.
  let best = { accuracy: negatives / order.length, threshold: Infinity };
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const point = order[k];
    if (!point) continue;
    if (point.l === 1) tp++;
    else fp++;
    if (k + 1 < order.length && order[k + 1]?.s === point.s) continue;
    const correct = (tp + negatives - fp) / order.length;
    if (correct > best.accuracy) best = { accuracy: correct, threshold: point.s };
  }
  return best;
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
  const classWeights = args['class-weights'] === 'balanced' ? resolveClassWeights('balanced', [...CLASSES], CLASSES.map((_, c) => trainFiles.filter((f) => f.label === c).length)) : undefined;
  if (args['class-weights'] !== 'balanced' && args['class-weights'] !== 'none') throw new Error(`--class-weights must be none or balanced, got ${args['class-weights']}`);
  const result = await fitModel({
    built,
    settings: {
      ...(classWeights ? { classWeights } : {}),
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
  // The new auto (issue 27): 0.5 on the model's own probability unless Youden's best beats it in 95 % of resamples.
  const guarded = guardedAutoThreshold({ split: 'val', labels: valLabels, scores: valRaw });
  const valPrevalence = valLabels.filter((l) => l === 1).length / valLabels.length;
  const round = (x: number) => Number(x.toFixed(6));
  // What the evaluate step's auto does once it has a test split's scores (never its labels): the
  // guarded choice, or the cut re-targeted to the EM estimate of the test prior when that moved
  // more than the default shiftMargin from validation's.
  const stepAuto = (calibrated: number[]) => {
    const shift = priorShift(calibrated, valPrevalence, { margin: DEFAULT_SHIFT_MARGIN, positiveClass: 'PNEUMONIA', posteriors: 'calibrated' });
    return { shift, threshold: autoForTestPrior(guarded, shift, calibration) };
  };
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
      guardedAuto: at(raw, guarded.value),
      newAuto: ((auto) => ({ ...at(raw, auto.value), method: auto.method }))(stepAuto(calibrated).threshold),
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
  const shifts = testScores && args.shift ? args.shift.split(',').map(Number) : [];
  const priorShiftedTests = shifts.map((prevalence) => {
    if (!testScores || !(prevalence > 0 && prevalence < 1)) throw new Error(`--shift takes positive shares in (0, 1), got ${prevalence}`);
    const picked = priorShifted(testScores.labels, prevalence, 'shift');
    const labels = picked.map((i) => testScores?.labels[i] ?? 0);
    const raw = picked.map((i) => testScores?.scores[i] ?? 0);
    const calibrated = raw.map((p) => calibrate(calibration, p));
    const acc = (scores: number[], threshold: number) => round(accuracy(labels, predictAtThreshold(scores, threshold)));
    const oldAuto = acc(calibrated, choice.value);
    const guardedOnly = acc(raw, guarded.value);
    const { shift, threshold: auto } = stepAuto(calibrated);
    const newAuto = acc(raw, auto.value);
    const half = acc(raw, 0.5);
    const best = hindsightAccuracy(labels, raw);
    const truth = labels.filter((l) => l === 1).length / labels.length;
    return {
      prevalence,
      images: labels.length,
      positives: labels.filter((l) => l === 1).length,
      accuracy: { oldAuto, newAuto, guardedOnly, half, hindsight: round(best.accuracy), hindsightThreshold: round(best.threshold) },
      newAutoMethod: auto.method,
      newAutoThreshold: round(auto.value),
      ...(auto.method === 'prior-adjusted' ? { newAutoCalibratedThreshold: round(auto.prior.calibratedThreshold) } : {}),
      shiftWarning: shift.warning !== undefined,
      estimatedPrevalence: round(shift.estimated),
      truePrevalence: round(truth),
      emIterations: shift.iterations,
      // Issue 27's acceptance: new auto within 0.01 of the better of 0.5 and old auto; estimate within 0.05.
      newAutoWithin001: newAuto >= Math.max(oldAuto, half) - 0.01,
      estimateWithin005: Math.abs(shift.estimated - truth) <= 0.05,
    };
  });
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
          guardedAuto: {
            rule: "new auto (issue 27): 0.5 on the model's own probability unless Youden's best raw threshold beats it in >= 95 % of 1,000 bootstrap resamples of validation",
            value: round(guarded.value),
            method: guarded.method,
            ...(guarded.guard
              ? {
                  challenger: round(guarded.guard.challengerThreshold),
                  winRate: round(guarded.guard.winRate),
                  youdenDefaultInterval: [round(guarded.guard.defaultInterval.low), round(guarded.guard.defaultInterval.high)],
                  youdenChallengerInterval: [round(guarded.guard.challengerInterval.low), round(guarded.guard.challengerInterval.high)],
                }
              : {}),
          },
        },
        classWeights: classWeights ?? null,
        validationPrevalence: round(valPrevalence),
        validation,
        ...(test ? { test } : {}),
        ...(priorShiftedTests.length > 0 ? { priorShiftedTests } : {}),
        finalEpoch: result.history.at(-1),
        seconds: { load: round(loadSeconds), train: round(trainSeconds), features: round(result.featureSeconds), predict: round(predictSeconds), wall: round((performance.now() - started) / 1000) },
      },
      null,
      2,
    ),
  );
}

await main();
