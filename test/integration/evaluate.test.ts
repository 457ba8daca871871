import assert from 'node:assert/strict';
import sharp from 'sharp';
import { z } from 'zod';
import { EvaluationError } from '../../common/errors.ts';
import { manifestText } from '../../common/dataset-manifest.ts';
import type { StepContext } from '../../common/step-activities.ts';
import { evaluateStep, type EvaluateInput } from '../../common/step-kinds/evaluate.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import * as tf from '@tensorflow/tfjs-core';
import { evaluate } from '../../activities/evaluation/evaluate.ts';
import { predictSplit } from '../../activities/evaluation/predict.ts';
import { loadTrainedModel } from '../../activities/evaluation/trained-model.ts';
import { applyPlatt, brierScore, expectedCalibrationError, fitPlatt, invertPlatt } from '../../activities/evaluation/calibration.ts';
import { chooseThreshold } from '../../activities/evaluation/threshold.ts';
import { guardedAutoThreshold } from '../../activities/evaluation/guarded-threshold.ts';
import { estimatePrevalence, priorAdjustedCut } from '../../activities/evaluation/prior-shift.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { WEIGHTS_FILE } from '../../activities/model-io/layers-model-io.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { trainTinyClassifier, writeSplit } from '../helpers/evaluation-fixtures.ts';

const PredictionsSchema = z.object({
  threshold: z.number(),
  thresholdScale: z.enum(['raw', 'calibrated']),
  calibration: z.union([z.object({ method: z.literal('none') }), z.object({ method: z.literal('platt'), a: z.number(), b: z.number() })]),
  test: z.array(z.object({ class: z.string(), probability: z.number(), calibratedProbability: z.number().optional(), predicted: z.string() })),
  validation: z.array(z.object({ class: z.string(), probability: z.number(), calibratedProbability: z.number().optional() })).optional(),
});
const MetricsSchema = z.object({
  testSize: z.number(),
  confusionMatrix: z.array(z.array(z.number())),
  threshold: z.object({
    method: z.string(),
    value: z.number(),
    split: z.string().optional(),
    validationSize: z.number().optional(),
    interval: z.object({ low: z.number(), high: z.number() }).optional(),
  }),
  headline: z.object({ auc: z.number(), accuracy: z.number() }),
  calibration: z.object({
    method: z.string(),
    splits: z.object({
      test: z.object({ raw: z.object({ ece: z.number(), brier: z.number() }), calibrated: z.object({ ece: z.number(), brier: z.number() }).optional() }),
      validation: z.object({ raw: z.object({ ece: z.number(), brier: z.number() }), calibrated: z.object({ ece: z.number(), brier: z.number() }) }).optional(),
    }),
  }),
});

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-12, `${what}: expected ${expected}, got ${actual}`);
}

function context(workflowId: string, stepId = 'evaluate'): StepContext {
  return { pipeline: 'eval-test', workflowId, stepId, runPrefix: `runs/${workflowId}/${stepId}/` };
}

describe('evaluate step on a tiny trained model (real S3 server)', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let store: ObjectStore;
  const model = 'runs/wf-train/train/model';
  const history = 'runs/wf-train/train/history.json';
  let val: Awaited<ReturnType<typeof writeSplit>>;
  let test: Awaited<ReturnType<typeof writeSplit>>;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'evaluate' });
    store = new ObjectStore(servers.storage);
    await selectEngine('wasm', { strict: true });
    const train = await writeSplit(store, 'train', 40, 'a');
    val = await writeSplit(store, 'val', 15, 'a');
    test = await writeSplit(store, 'test', 25, 'a');
    const epochs = await trainTinyClassifier(store, train.manifest, model);
    await store.putJson(history, { history: epochs.map((e) => ({ ...e, valLoss: e.loss * 1.1, valAccuracy: e.accuracy * 0.95 })) });
  });

  after(async () => {
    await servers?.stop();
  });

  function input(overrides: Partial<Record<keyof EvaluateInput, unknown>> = {}): EvaluateInput {
    return evaluateStep.input.parse({ model, testManifest: test.key, valManifest: val.key, classes: ['NORMAL', 'PNEUMONIA'], histories: [history], sampleImages: 8, ...overrides });
  }

  it('writes five PNG plots, a report and metrics whose confusion counts sum to the test size', async () => {
    const ctx = context('wf-eval-fixed');
    const output = await evaluate(store, input({ threshold: 0.6 }), ctx);
    assert.deepEqual(evaluateStep.output.parse(output), output);
    assert.equal(output.testSize, 50);
    assert.equal(output.threshold, 0.6);
    assert.equal(output.thresholdMethod, 'fixed');
    assert.equal(output.thresholdScale, 'raw', 'a fixed number is a cut-off on the model output unless calibration is asked for');
    assert.deepEqual(output.calibration, { method: 'none' });
    assert.ok(output.metrics.auc > 0.8, `tiny model separates the classes: AUC ${output.metrics.auc}`);

    assert.deepEqual(Object.keys(output.plots).sort(), ['confusion', 'curves', 'reliability', 'roc', 'samples']);
    for (const [name, key] of Object.entries(output.plots)) {
      assert.ok(key.startsWith(ctx.runPrefix), key);
      const png = await store.get(key);
      const meta = await sharp(png).metadata();
      assert.equal(meta.format, 'png', name);
      assert.ok((meta.width ?? 0) >= 400 && (meta.height ?? 0) >= 400, `${name} is ${meta.width}x${meta.height}`);
      assert.ok(png.length > 8_000, `${name} has ${png.length} bytes: text and marks rendered`);
    }

    const metrics = MetricsSchema.parse(await store.getJson(output.metricsKey));
    assert.equal(metrics.confusionMatrix.flat().reduce((a, b) => a + b, 0), 50);
    assert.equal(metrics.testSize, 50);
    assert.deepEqual(metrics.threshold, { value: 0.6, method: 'fixed' });

    const predictions = PredictionsSchema.parse(await store.getJson(output.predictions));
    assert.equal(predictions.test.length, 50);
    assert.equal(predictions.validation, undefined, 'a fixed threshold reads no validation images');
    const predictedPneumonia = predictions.test.filter((p) => p.probability >= 0.6).length;
    assert.equal(predictedPneumonia, (metrics.confusionMatrix[0]?.[1] ?? 0) + (metrics.confusionMatrix[1]?.[1] ?? 0));

    const report = (await store.get(output.report)).toString('utf8');
    assert.match(report, /\| class \| precision \| recall \| f1-score \| support \|/);
    assert.match(report, /\| NORMAL \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| 25 \|/);
    assert.match(report, /0\.6000 on the probability, fixed in the pipeline/);
    assert.match(report, /!\[Reliability diagram\]\(plots\/reliability-diagram\.png\)/);
    // Test calibration is reported from the test labels (not used for any choice).
    const testLabels = predictions.test.map((p) => (p.class === 'PNEUMONIA' ? 1 : 0));
    const testProbabilities = predictions.test.map((p) => p.probability);
    close(metrics.calibration.splits.test.raw.ece, expectedCalibrationError(testLabels, testProbabilities), 'test ECE');
    close(output.calibrationMetrics.test.brier, brierScore(testLabels, testProbabilities), 'test Brier');
    assert.equal(output.calibrationMetrics.validation, undefined);
    assert.match(report, /!\[ROC curve\]\(plots\/roc-curve\.png\)/);
    assert.match(report, new RegExp(`ROC AUC \\| ${output.metrics.auc.toFixed(4)}`));
  });

  it("auto keeps or moves off 0.5 on the model's own probability as the validation bootstrap decides, calibrates on validation for the record, and estimates the test prevalence: changing the test labels changes none of them", async () => {
    const first = await evaluate(store, input({ threshold: 'auto' }), context('wf-eval-auto'));
    assert.deepEqual(evaluateStep.output.parse(first), first);
    assert.equal(first.thresholdScale, 'raw', "auto's threshold applies to the model's own probability");
    const predictions = PredictionsSchema.parse(await store.getJson(first.predictions));
    const validation = predictions.validation ?? [];
    assert.equal(validation.length, 30);
    const labels = validation.map((p) => (p.class === 'PNEUMONIA' ? 1 : 0));
    const probabilities = validation.map((p) => p.probability);
    // The decision is the guard's on the validation probabilities, and the outputs say how it went.
    const expected = guardedAutoThreshold({ split: 'val', labels, scores: probabilities });
    assert.ok(expected.guard);
    assert.equal(first.threshold, expected.value);
    assert.equal(first.thresholdMethod, expected.guard.moved ? 'youden' : 'default');
    assert.deepEqual(first.thresholdDecision, {
      criterion: 'youden',
      defaultThreshold: 0.5,
      challengerThreshold: expected.guard.challengerThreshold,
      winRate: expected.guard.winRate,
      required: 0.95,
      resamples: 1000,
      defaultInterval: expected.guard.defaultInterval,
      challengerInterval: expected.guard.challengerInterval,
      moved: expected.guard.moved,
    });
    for (const p of predictions.test) assert.equal(p.predicted, p.probability >= first.threshold ? 'PNEUMONIA' : 'NORMAL');
    // Platt parameters are still fitted on the validation probabilities, reported and recorded.
    const expectedPlatt = fitPlatt(labels, probabilities);
    assert.deepEqual(first.calibration, { method: 'platt', ...expectedPlatt });
    assert.deepEqual(predictions.calibration, first.calibration);
    for (const p of [...validation, ...predictions.test]) close(p.calibratedProbability ?? NaN, applyPlatt(expectedPlatt, p.probability), 'calibrated probability');
    const calibrated = validation.map((p) => p.calibratedProbability ?? NaN);
    const metrics = MetricsSchema.parse(await store.getJson(first.metricsKey));
    assert.equal(metrics.threshold.method, first.thresholdMethod);
    close(metrics.calibration.splits.validation?.calibrated.ece ?? NaN, expectedCalibrationError(labels, calibrated), 'validation ECE');
    close(first.calibrationMetrics.validation?.brier ?? NaN, brierScore(labels, calibrated), 'validation Brier');
    // The test prevalence from the calibrated test probabilities alone, with validation's as the prior.
    assert.equal(first.validationPrevalence, 0.5);
    const testCalibrated = predictions.test.map((p) => p.calibratedProbability ?? NaN);
    close(first.estimatedPrevalence ?? NaN, estimatePrevalence(testCalibrated, 0.5).prevalence, 'estimated prevalence');
    assert.equal(first.shiftWarning, undefined, `a test split with validation's class mix (estimate ${first.estimatedPrevalence}) raises no warning`);
    const report = (await store.get(first.report)).toString('utf8');
    assert.match(report, /## Calibration/);
    assert.match(report, /## Threshold decision \(auto\)/);
    assert.match(report, new RegExp(`Win rate of Youden's J's best over the default: \\*\\*${(100 * expected.guard.winRate).toFixed(1)} %\\*\\*`));
    assert.match(report, /## Class prior shift/);
    assert.match(report, new RegExp(`\\| test, estimated from the scores alone \\| ${(first.estimatedPrevalence ?? NaN).toFixed(4)} \\|`));
    assert.match(report, /\| test \(labels, for reference\) \| 0\.5000 \|/);

    // Same images, every test label flipped: the metrics change; the threshold and the estimate cannot.
    const flipped = { ...test.manifest, images: test.manifest.images.map((image) => ({ ...image, label: 1 - image.label, class: image.label === 1 ? 'NORMAL' : 'PNEUMONIA' })) };
    const flippedKey = 'runs/wf-eval-auto/flipped-test.json';
    await store.put(flippedKey, manifestText(flipped));
    const second = await evaluate(store, input({ threshold: 'auto', testManifest: flippedKey }), context('wf-eval-auto', 'evaluate-flipped'));
    assert.equal(second.threshold, first.threshold);
    assert.deepEqual(second.calibration, first.calibration);
    assert.equal(second.estimatedPrevalence, first.estimatedPrevalence);
    assert.ok(Math.abs(second.metrics.auc - (1 - first.metrics.auc)) < 1e-9, 'flipped labels invert the AUC');
  });

  it('chooses a criterion on the calibrated probability when asked (scale: calibrated), in the middle of the equally good interval; its parameters and threshold carry to a later evaluation', async () => {
    const first = await evaluate(store, input({ threshold: { criterion: 'youden', scale: 'calibrated' } }), context('wf-eval-calibrated'));
    assert.equal(first.thresholdMethod, 'youden');
    assert.equal(first.thresholdScale, 'calibrated');
    const predictions = PredictionsSchema.parse(await store.getJson(first.predictions));
    const validation = predictions.validation ?? [];
    const labels = validation.map((p) => (p.class === 'PNEUMONIA' ? 1 : 0));
    const calibrated = validation.map((p) => p.calibratedProbability ?? NaN);
    const expected = chooseThreshold({ split: 'val', labels, scores: calibrated }, { criterion: 'youden' }, 'calibrated');
    assert.equal(first.threshold, expected.value);
    assert.deepEqual(first.thresholdInterval, expected.interval);
    assert.equal(first.threshold, (expected.interval.low + expected.interval.high) / 2);
    assert.equal(first.thresholdDecision, undefined, 'only auto runs the bootstrap guard');
    for (const p of predictions.test) assert.equal(p.predicted, (p.calibratedProbability ?? NaN) >= first.threshold ? 'PNEUMONIA' : 'NORMAL');
    const metrics = MetricsSchema.parse(await store.getJson(first.metricsKey));
    assert.equal(metrics.threshold.split, 'val');
    assert.equal(metrics.threshold.validationSize, 30);
    assert.deepEqual(metrics.threshold.interval, expected.interval);
    const report = (await store.get(first.report)).toString('utf8');
    assert.match(report, new RegExp(`every threshold in \\(${expected.interval.low.toFixed(4)}, ${expected.interval.high.toFixed(4)}\\]`));

    // Parameters handed to a later evaluation are applied as given, without validation data.
    const reused = await evaluate(store, input({ threshold: first.threshold, calibration: first.calibration, valManifest: undefined }), context('wf-eval-calibrated', 'evaluate-reused'));
    assert.equal(reused.thresholdScale, 'calibrated');
    assert.deepEqual(reused.metrics, first.metrics);
    assert.equal(reused.estimatedPrevalence, undefined, 'no validation split, no prevalence to compare with');
  });

  it("warns in the outputs and the report when the test split looks far more positive than validation, and auto re-targets its cut to the estimate from the test scores (never the labels) unless adaptThresholdToShift: false keeps the guarded cut", async () => {
    // Every PNEUMONIA test image and three NORMAL ones: 25 of 28 positive against validation's half.
    let normals = 0;
    const shifted = { ...test.manifest, images: test.manifest.images.filter((image) => image.class === 'PNEUMONIA' || normals++ < 3) };
    const shiftedKey = 'runs/wf-eval-shift/shifted-test.json';
    await store.put(shiftedKey, manifestText(shifted));
    const output = await evaluate(store, input({ threshold: 'auto', testManifest: shiftedKey, shiftMargin: 0.1 }), context('wf-eval-shift'));
    assert.equal(output.testSize, 28);
    assert.equal(output.validationPrevalence, 0.5);
    assert.ok((output.estimatedPrevalence ?? 0) > 0.6, `estimate ${output.estimatedPrevalence} moves towards the true 0.89`);
    assert.match(output.shiftWarning ?? '', /class prior shift: the scored split looks \d+\.\d % PNEUMONIA \(estimated from the scores\), validation is 50\.0 %/);
    const report = (await store.get(output.report)).toString('utf8');
    assert.ok(report.includes(`> **Warning:** ${output.shiftWarning ?? 'none'}.`), 'the report states the warning');
    assert.match(report, /\| test \(labels, for reference\) \| 0\.8929 \|/);

    // auto: the calibrated posterior re-weighted from validation's prior to the estimate, cut at
    // 0.5, stated on the model's own probability; the guarded rule's choice travels alongside.
    assert.equal(output.thresholdMethod, 'prior-adjusted');
    assert.equal(output.thresholdScale, 'raw');
    assert.ok(output.calibration.method === 'platt');
    const estimated = output.estimatedPrevalence ?? NaN;
    const calibratedCut = priorAdjustedCut(0.5, estimated);
    assert.ok(calibratedCut < 0.5, 'a commoner positive class lowers the cut');
    const guardedAlone = output.thresholdDecision?.moved ? { threshold: output.thresholdDecision.challengerThreshold, method: 'youden' } : { threshold: 0.5, method: 'default' };
    assert.equal(output.priorAdjustment?.validationPrevalence, 0.5);
    assert.equal(output.priorAdjustment.estimatedPrevalence, estimated);
    assert.equal(output.priorAdjustment.guardedThreshold, guardedAlone.threshold);
    assert.equal(output.priorAdjustment.guardedMethod, guardedAlone.method);
    close(output.priorAdjustment?.calibratedThreshold ?? NaN, calibratedCut, 'cut on the calibrated probability');
    close(output.threshold, invertPlatt(output.calibration, calibratedCut), "cut on the model's own probability");
    const predictions = PredictionsSchema.parse(await store.getJson(output.predictions));
    for (const p of predictions.test) {
      const reweighted = ((estimated / 0.5) * (p.calibratedProbability ?? NaN)) / ((estimated / 0.5) * (p.calibratedProbability ?? NaN) + ((1 - estimated) / 0.5) * (1 - (p.calibratedProbability ?? NaN)));
      assert.equal(p.predicted, reweighted >= 0.5 ? 'PNEUMONIA' : 'NORMAL', `re-weighted posterior ${reweighted}`);
      assert.equal(p.predicted, p.probability >= output.threshold ? 'PNEUMONIA' : 'NORMAL');
    }
    const metrics = MetricsSchema.parse(await store.getJson(output.metricsKey));
    assert.equal(metrics.threshold.method, 'prior-adjusted');
    assert.match(report, /## Threshold re-targeted to the test prior \(auto\)/);
    assert.match(report, /the guarded rule alone would cut at \d\.\d{4}/);
    assert.ok(report.includes("used the test split's unlabeled scores (through the estimate), never its labels"));

    // The same images with every label flipped: the estimate and the cut cannot change.
    const flipped = { ...shifted, images: shifted.images.map((image) => ({ ...image, label: 1 - image.label, class: image.label === 1 ? 'NORMAL' : 'PNEUMONIA' })) };
    const flippedKey = 'runs/wf-eval-shift/flipped-shifted-test.json';
    await store.put(flippedKey, manifestText(flipped));
    const again = await evaluate(store, input({ threshold: 'auto', testManifest: flippedKey, shiftMargin: 0.1 }), context('wf-eval-shift', 'evaluate-flipped'));
    assert.equal(again.threshold, output.threshold);
    assert.equal(again.estimatedPrevalence, output.estimatedPrevalence);

    // adaptThresholdToShift: false (a model published for validation's class mix): the same
    // warning and estimate, but the threshold is the guarded rule's; the declined cut is reported.
    const kept = await evaluate(store, input({ threshold: 'auto', testManifest: shiftedKey, shiftMargin: 0.1, adaptThresholdToShift: false }), context('wf-eval-shift', 'evaluate-kept'));
    assert.equal(kept.shiftWarning, output.shiftWarning, 'the warning still fires');
    assert.equal(kept.estimatedPrevalence, output.estimatedPrevalence);
    assert.equal(kept.thresholdMethod, guardedAlone.method);
    assert.equal(kept.threshold, guardedAlone.threshold);
    assert.deepEqual(kept.thresholdDecision, output.thresholdDecision, 'the same bootstrap decision');
    assert.deepEqual(kept.priorAdjustment, { ...output.priorAdjustment, applied: false }, 'the adjustment it would have made');
    assert.equal(output.priorAdjustment.applied, true);
    assert.equal(kept.priorAdjustment.thresholdOnModelScale, output.threshold);
    const keptPredictions = PredictionsSchema.parse(await store.getJson(kept.predictions));
    for (const p of keptPredictions.test) assert.equal(p.predicted, p.probability >= guardedAlone.threshold ? 'PNEUMONIA' : 'NORMAL');
    const keptMetrics = MetricsSchema.parse(await store.getJson(kept.metricsKey));
    assert.equal(keptMetrics.threshold.method, guardedAlone.method);
    const keptReport = (await store.get(kept.report)).toString('utf8');
    assert.ok(keptReport.includes(`> **Warning:** ${kept.shiftWarning ?? 'none'}.`), 'the report states the warning');
    assert.match(keptReport, /## Threshold not re-targeted to the test prior \(adaptThresholdToShift: false\)/);
    assert.ok(keptReport.includes(`| prior-adjusted (not used) | ${(kept.priorAdjustment.calibratedThreshold).toFixed(4)} | ${output.threshold.toFixed(4)} |`), 'what it would have cut at');
    assert.ok(keptReport.includes(`it would have cut at ${output.threshold.toFixed(4)}`));
    assert.doesNotMatch(keptReport, /## Threshold re-targeted to the test prior/);
  });

  it('refuses to choose the threshold on the test manifest passed as valManifest', async () => {
    await assert.rejects(evaluate(store, input({ threshold: 'auto', valManifest: test.key }), context('wf-eval-leak')), (error: unknown) => {
      assert.ok(error instanceof EvaluationError);
      assert.match(error.message, /must be computed on the validation split, not 'test'/);
      return true;
    });
  });

  it('scores a model with the preprocessing its model.json records, and a model that records none with x/255 as before', async () => {
    const classes = ['NORMAL', 'PNEUMONIA'];
    const saved = z.looseObject({ userDefinedMetadata: z.record(z.string(), z.unknown()).optional() }).parse(await store.getJson(`${model}/model.json`));
    const weights = await store.get(`${model}/${WEIGHTS_FILE}`);
    // Pixel arithmetic written out here, independent of the code under test; channel order B, G, R for caffe.
    const means = [103.939, 116.779, 123.68];
    const recorded = [
      { metadata: {}, mode: 'unit', value: (gray: number) => gray / 255 },
      { metadata: { inputScaling: 'symmetric' }, mode: 'symmetric', value: (gray: number) => gray / 127.5 - 1 },
      { metadata: { preprocessing: 'caffe' }, mode: 'caffe', value: (gray: number, channel: number) => gray - (means[channel] ?? 0) },
    ] as const;
    const scored: number[][] = [];
    for (const { metadata, mode, value } of recorded) {
      const prefix = `runs/wf-train/recorded-${mode}/model`;
      await store.putJson(`${prefix}/model.json`, { ...saved, userDefinedMetadata: { ...saved.userDefinedMetadata, ...metadata } });
      await store.put(`${prefix}/${WEIGHTS_FILE}`, weights);
      const trained = await loadTrainedModel(store, prefix, classes);
      try {
        assert.equal(trained.preprocessing, mode);
        const { predictions, pixels } = await predictSplit(store, trained, test.manifest, { batchSize: 8 });
        const input = Float32Array.from({ length: pixels.pixels.length * 3 }, (_, i) => value(pixels.pixels[Math.floor(i / 3)] ?? 0, i % 3));
        const expected = tf.tidy(() => trained.model.predict(tf.tensor4d(input, [pixels.count, pixels.height, pixels.width, 3])) as tf.Tensor);
        const reference = await expected.data();
        expected.dispose();
        const probabilities = predictions.flatMap((prediction) => prediction.probabilities);
        assert.equal(probabilities.length, reference.length);
        probabilities.forEach((p, i) => assert.ok(Math.abs(p - (reference[i] ?? Number.NaN)) < 1e-5, `${mode} image ${Math.floor(i / 2)}: ${p} vs ${reference[i]}`));
        scored.push(probabilities);
      } finally {
        trained.model.dispose();
      }
    }
    const [unit, symmetric, caffe] = scored;
    assert.notDeepEqual(caffe, unit, 'the recorded mode changes what the model sees');
    assert.notDeepEqual(symmetric, unit);
  });

  it('fails with a clear, non-retryable error when the model classes differ from the manifest classes', async () => {
    for (const classes of [['CAT', 'DOG'], ['PNEUMONIA', 'NORMAL']]) {
      await assert.rejects(evaluate(store, input({ classes, positiveClass: 'PNEUMONIA' === classes[0] ? 'PNEUMONIA' : 'DOG' }), context('wf-eval-classes')), (error: unknown) => {
        assert.ok(error instanceof EvaluationError);
        assert.equal(error.message, `Evaluate failed: the model predicts classes [${classes.join(', ')}] but ${test.key} has classes [NORMAL, PNEUMONIA]`);
        return true;
      });
    }
    await assert.rejects(evaluate(store, input({ classes: undefined }), context('wf-eval-classes')), /does not say which classes it predicts/);
  });
});
