import { SplitManifestSchema, type SplitManifest } from '../../common/dataset-manifest.ts';
import { EvaluationError } from '../../common/errors.ts';
import type { StepContext } from '../../common/step-activities.ts';
import type { EvaluateInput, EvaluateOutput } from '../../common/step-kinds/evaluate.ts';
import type { ObjectStore } from '../object-store.ts';
import { applyPlatt, calibrationSummary, fitPlatt, type CalibrationSummary } from './calibration.ts';
import { loadHistories } from './histories.ts';
import { confusionMatrixPng } from './plots/confusion-matrix.ts';
import { reliabilityDiagramPng } from './plots/reliability-diagram.ts';
import { rocCurvePng } from './plots/roc-curve.ts';
import { sampleGridPng } from './plots/sample-grid.ts';
import { trainingCurvesPng } from './plots/training-curves.ts';
import { createBatchPredictor } from '../features/batch-predictor.ts';
import { predictSplit, type ImagePrediction } from './predict.ts';
import { renderReport } from './report.ts';
import { sweepPlot, sweepReportSection } from './sweep-report.ts';
import { scoreBinary, splitScores } from './scoring.ts';
import { resolveThreshold, type SplitScores } from './threshold.ts';
import { checkSameClasses, ensureInferenceBackend, loadTrainedModel } from './trained-model.ts';

/** Progress of an evaluation: images scored so far in the split being predicted. */
export interface EvaluationProgress {
  phase: 'validation' | 'test' | 'plots';
  done: number;
  total: number;
}

export interface EvaluationHooks {
  onProgress?: (progress: EvaluationProgress) => void | Promise<void>;
  /** Called once the feature engine that runs the model's backbone is chosen (logs). */
  onFeatureEngine?: (engine: { engine: string; device: string; skipped: { engine: string; reason: string }[] }) => void;
}

/** Object keys of the evaluation's artifacts under the step's run prefix. */
export function evaluationKeys(runPrefix: string) {
  return {
    metrics: `${runPrefix}metrics.json`,
    predictions: `${runPrefix}predictions.json`,
    report: `${runPrefix}report.md`,
    plots: {
      curves: `${runPrefix}plots/training-curves.png`,
      confusion: `${runPrefix}plots/confusion-matrix.png`,
      roc: `${runPrefix}plots/roc-curve.png`,
      samples: `${runPrefix}plots/samples.png`,
      reliability: `${runPrefix}plots/reliability-diagram.png`,
    },
  };
}

async function readSplit(store: ObjectStore, key: string): Promise<SplitManifest> {
  const parsed = SplitManifestSchema.safeParse(await store.getJson(key));
  if (!parsed.success) throw new EvaluationError(`Read split manifest failed: ${key} is not a split manifest (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  return parsed.data;
}

/** Up to `count` test predictions, alternating between classes so the grid shows both. */
function pickSamples(predictions: readonly ImagePrediction[], classCount: number, count: number): ImagePrediction[] {
  const byClass = Array.from({ length: classCount }, (_, c) => predictions.filter((p) => p.label === c));
  const picked: ImagePrediction[] = [];
  for (let i = 0; picked.length < count && i < predictions.length; i++) {
    for (const list of byClass) {
      const prediction = list[i];
      if (prediction && picked.length < count) picked.push(prediction);
    }
  }
  return picked;
}

/** The calibration an evaluation applies before its threshold. */
export type AppliedCalibration = EvaluateOutput['calibration'];

/**
 * Fits Platt scaling on the validation scores; refuses any other split (fitting on test would
 * leak its labels into the probabilities it reports) and a model that ranks validation
 * negatives above positives (a negative slope would turn its predictions around).
 */
export function fitCalibration(validation: SplitScores): Extract<AppliedCalibration, { method: 'platt' }> {
  if (validation.split !== 'val') {
    throw new EvaluationError(`Calibrate failed: calibration must be computed on the validation split, not '${validation.split}'`);
  }
  let parameters;
  try {
    parameters = fitPlatt(validation.labels, validation.scores);
  } catch (error) {
    throw new EvaluationError(`Calibrate failed on the validation split: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!(parameters.a > 0)) {
    throw new EvaluationError(
      `Calibrate failed: Platt scaling on the validation split has slope ${parameters.a.toFixed(4)} ≤ 0 (the model ranks validation negatives above positives); set calibration: none to score it uncalibrated`,
    );
  }
  return { method: 'platt', a: parameters.a, b: parameters.b };
}

/** The calibrated probability (identity when uncalibrated). */
export function calibrate(calibration: AppliedCalibration, probability: number): number {
  return calibration.method === 'platt' ? applyPlatt(calibration, probability) : probability;
}

const briefly = ({ ece, brier }: CalibrationSummary) => ({ ece, brier });

/**
 * The evaluate step: scores the model on the test split as stored (no augmentation), with the
 * calibration fitted and the threshold fixed or chosen on validation before any test image is
 * read, and writes predictions.json, metrics.json, report.md and five PNG plots under the
 * step's run prefix.
 */
export async function evaluate(store: ObjectStore, input: EvaluateInput, context: StepContext, hooks: EvaluationHooks = {}): Promise<EvaluateOutput> {
  const keys = evaluationKeys(context.runPrefix);
  const backend = await ensureInferenceBackend();
  const trained = await loadTrainedModel(store, input.model, input.classes);
  // The backbone through ONNX Runtime when it converts (features within 1e-4 of tfjs), the head in tfjs.
  const predictor = await createBatchPredictor(trained.model, input.featureEngine).catch((error: unknown) => {
    trained.model.dispose();
    throw error;
  });
  hooks.onFeatureEngine?.(predictor);
  try {
    const { classes } = trained;
    if (classes.length !== 2) throw new EvaluationError(`Evaluate failed: ${input.model} has ${classes.length} classes; the evaluate step scores binary classifiers`);
    const positiveIndex = classes.indexOf(input.positiveClass);
    if (positiveIndex < 0) throw new EvaluationError(`Evaluate failed: positiveClass '${input.positiveClass}' is not one of the model's classes [${classes.join(', ')}]`);
    const testManifest = await readSplit(store, input.testManifest);
    checkSameClasses(classes, testManifest.classes, input.testManifest);

    // Calibration and threshold are settled before the test split is read at all. A fixed
    // number keeps meaning the model's own probability unless calibration is asked for.
    const chosenOnValidation = typeof input.threshold !== 'number';
    const calibrationSetting = input.calibration ?? (chosenOnValidation ? 'platt' : 'none');
    let validation: ImagePrediction[] | undefined;
    let validationScores: SplitScores | undefined;
    if (chosenOnValidation || calibrationSetting === 'platt') {
      const valKey = input.valManifest;
      if (valKey === undefined) throw new EvaluationError('Choose threshold failed: a threshold chosen on validation or calibration: platt needs valManifest');
      const manifest = await readSplit(store, valKey);
      checkSameClasses(classes, manifest.classes, valKey);
      ({ predictions: validation } = await predictSplit(store, trained, manifest, {
        batchSize: input.batchSize,
        predictor,
        onBatch: (done, total) => hooks.onProgress?.({ phase: 'validation', done, total }),
      }));
      // The manifest's own split field travels with the scores: a test manifest passed as
      // valManifest is refused by the calibration fit and the threshold chooser.
      validationScores = splitScores(manifest.split, validation, positiveIndex);
    }
    const calibration: AppliedCalibration =
      calibrationSetting === 'platt' && validationScores ? fitCalibration(validationScores) : typeof calibrationSetting === 'object' ? calibrationSetting : { method: 'none' };
    const scale = calibration.method === 'platt' ? 'calibrated' : 'raw';
    const decisionOf = (p: ImagePrediction) => calibrate(calibration, p.probabilities[positiveIndex] ?? 0);
    const threshold = await resolveThreshold(
      input.threshold,
      async () => {
        if (!validationScores || !validation) throw new EvaluationError('Choose threshold failed: a threshold chosen on validation needs valManifest');
        return { ...validationScores, scores: validation.map(decisionOf) };
      },
      scale,
    );

    const { predictions: test, pixels: testPixels } = await predictSplit(store, trained, testManifest, {
      batchSize: input.batchSize,
      predictor,
      onBatch: (done, total) => hooks.onProgress?.({ phase: 'test', done, total }),
    });
    const testScores = splitScores('test', test, positiveIndex);
    const testDecision = test.map(decisionOf);
    const scorecard = scoreBinary(testScores, classes, positiveIndex, threshold, testDecision);
    await hooks.onProgress?.({ phase: 'plots', done: 0, total: 5 });

    // Calibration of the model's own probabilities and, when calibrated, of the calibrated ones.
    const summaries = {
      test: { raw: calibrationSummary(testScores.labels, testScores.scores), ...(scale === 'calibrated' ? { calibrated: calibrationSummary(testScores.labels, testDecision) } : {}) },
      ...(validationScores && validation
        ? {
            validation: {
              raw: calibrationSummary(validationScores.labels, validationScores.scores),
              ...(scale === 'calibrated' ? { calibrated: calibrationSummary(validationScores.labels, validation.map(decisionOf)) } : {}),
            },
          }
        : {}),
    };
    const decisionSummary = (split: { raw: CalibrationSummary; calibrated?: CalibrationSummary }) => split.calibrated ?? split.raw;

    const predictedClass = (p: ImagePrediction) => classes[decisionOf(p) >= threshold.value ? positiveIndex : 1 - positiveIndex] ?? '';
    const how = threshold.method === 'fixed' ? 'fixed' : `${threshold.method} on validation`;
    const subtitle = `threshold ${threshold.value.toFixed(3)}${scale === 'calibrated' ? ' (calibrated)' : ''} (${how}), ${scorecard.size} test images`;
    const samples = pickSamples(test, classes.length, input.sampleImages);
    const { width, height } = testPixels;
    // Predictions are in manifest order, as the pixels are.
    const grayOf = (p: ImagePrediction) => {
      const index = test.indexOf(p);
      return testPixels.pixels.subarray(index * width * height, (index + 1) * width * height);
    };
    const reliabilitySeries = [
      ...(summaries.validation ? [{ label: `validation${scale === 'calibrated' ? ', calibrated' : ''}`, summary: decisionSummary(summaries.validation) }] : []),
      { label: `test${scale === 'calibrated' ? ', calibrated' : ''}`, summary: decisionSummary(summaries.test) },
      ...(summaries.test.calibrated ? [{ label: 'test, model output', summary: summaries.test.raw }] : []),
    ];
    const [curves, confusion, roc, grid, reliability] = await Promise.all([
      loadHistories(store, input.histories).then(trainingCurvesPng),
      confusionMatrixPng(scorecard.confusionMatrix, classes, subtitle),
      rocCurvePng(scorecard.roc, scorecard.headline.auc, scorecard.operatingPoint),
      sampleGridPng(
        samples.map((p) => ({ image: { gray: grayOf(p), width, height }, trueClass: p.class, predictedClass: predictedClass(p), probability: decisionOf(p) })),
        input.positiveClass,
      ),
      reliabilityDiagramPng(reliabilitySeries, `P(${input.positiveClass}); ${calibration.method === 'platt' ? `Platt: σ(${calibration.a.toFixed(3)}·logit p + ${calibration.b.toFixed(3)})` : 'uncalibrated'}`),
    ]);
    await Promise.all([
      store.put(keys.plots.curves, curves, 'image/png'),
      store.put(keys.plots.confusion, confusion, 'image/png'),
      store.put(keys.plots.roc, roc, 'image/png'),
      store.put(keys.plots.samples, grid, 'image/png'),
      store.put(keys.plots.reliability, reliability, 'image/png'),
    ]);

    const record = (p: ImagePrediction) => ({
      sha256: p.sha256,
      path: p.path,
      class: p.class,
      probability: p.probabilities[positiveIndex] ?? 0,
      ...(scale === 'calibrated' ? { calibratedProbability: decisionOf(p) } : {}),
      predicted: predictedClass(p),
    });
    await store.putJson(keys.predictions, {
      version: 1,
      classes,
      positiveClass: input.positiveClass,
      threshold: threshold.value,
      thresholdScale: scale,
      calibration,
      test: test.map(record),
      ...(validation ? { validation: validation.map(record) } : {}),
    });
    // A model chosen by a sweep: a section saying which trial won and why, and its plot.
    const sweepPlotKey = `${context.runPrefix}plots/sweep-trials.png`;
    if (input.sweep) await store.put(sweepPlotKey, await sweepPlot(input.sweep), 'image/png');
    const plots = input.sweep ? { ...keys.plots, sweep: sweepPlotKey } : keys.plots;
    const sweepSection = input.sweep ? `\n${sweepReportSection(input.sweep, sweepPlotKey.slice(context.runPrefix.length))}` : '';
    const calibrationMetrics = {
      bins: summaries.test.raw.bins,
      test: briefly(decisionSummary(summaries.test)),
      ...(summaries.validation ? { validation: briefly(decisionSummary(summaries.validation)) } : {}),
    };
    const relativePlots = Object.fromEntries(Object.entries(keys.plots).map(([name, key]) => [name, key.slice(context.runPrefix.length)]));
    await store.put(
      keys.report,
      renderReport({
        pipeline: context.pipeline,
        workflowId: context.workflowId,
        stepId: context.stepId,
        model: input.model,
        testManifest: input.testManifest,
        classes,
        positiveClass: input.positiveClass,
        threshold,
        calibration,
        calibrationSummaries: summaries,
        scorecard,
        plots: relativePlots,
        backend,
      }) + sweepSection,
      'text/markdown; charset=utf-8',
    );
    // metrics.json last: its presence means every other artifact of the evaluation is stored.
    await store.putJson(keys.metrics, {
      version: 1,
      model: input.model,
      testManifest: input.testManifest,
      valManifest: input.valManifest ?? null,
      datasetHash: testManifest.datasetHash,
      classes,
      positiveClass: input.positiveClass,
      threshold,
      calibration: {
        ...calibration,
        ...(calibration.method === 'platt' ? { formula: 'p_calibrated = 1 / (1 + exp(-(a * logit(p) + b))), p clipped to [1e-7, 1 - 1e-7]' } : {}),
        binning: `${summaries.test.raw.bins} equal-width bins over [0, 1] of P(${input.positiveClass}); ECE = sum over bins of count/N * |fraction positive - mean predicted|`,
        splits: summaries,
      },
      testSize: scorecard.size,
      headline: scorecard.headline,
      classificationReport: scorecard.report,
      confusionMatrix: scorecard.confusionMatrix,
      roc: scorecard.roc.map((point) => ({ ...point, threshold: Number.isFinite(point.threshold) ? point.threshold : null })),
      backend,
      featureEngine: predictor.engine,
      featureDevice: predictor.device,
      featureEngineSkipped: predictor.skipped,
      artifacts: { report: keys.report, predictions: keys.predictions, plots },
    });
    return {
      metrics: scorecard.headline,
      threshold: threshold.value,
      thresholdMethod: threshold.method,
      thresholdScale: scale,
      ...(threshold.method === 'fixed' ? {} : { thresholdInterval: threshold.interval }),
      calibration,
      calibrationMetrics,
      testSize: scorecard.size,
      metricsKey: keys.metrics,
      predictions: keys.predictions,
      report: keys.report,
      plots,
    };
  } finally {
    await predictor.close();
    trained.model.dispose();
  }
}
