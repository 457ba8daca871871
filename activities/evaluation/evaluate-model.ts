import { SplitManifestSchema, type SplitManifest } from '../../common/dataset-manifest.ts';
import { EvaluationError } from '../../common/errors.ts';
import type { StepContext } from '../../common/step-activities.ts';
import type { EvaluateInput, EvaluateOutput } from '../../common/step-kinds/evaluate.ts';
import type { ObjectStore } from '../object-store.ts';
import { loadHistories } from './histories.ts';
import { confusionMatrixPng } from './plots/confusion-matrix.ts';
import { rocCurvePng } from './plots/roc-curve.ts';
import { sampleGridPng } from './plots/sample-grid.ts';
import { trainingCurvesPng } from './plots/training-curves.ts';
import { createBatchPredictor } from './batch-predictor.ts';
import { predictSplit, type ImagePrediction } from './predict.ts';
import { renderReport } from './report.ts';
import { sweepPlot, sweepReportSection } from './sweep-report.ts';
import { scoreBinary, splitScores } from './scoring.ts';
import { resolveThreshold } from './threshold.ts';
import { checkSameClasses, ensureInferenceBackend, loadTrainedModel } from './trained-model.ts';

/** Progress of an evaluation: images scored so far in the split being predicted. */
export interface EvaluationProgress {
  phase: 'validation' | 'test' | 'plots';
  done: number;
  total: number;
}

export interface EvaluationHooks {
  onProgress?: (progress: EvaluationProgress) => void | Promise<void>;
  /** Called once the engine that runs the model's backbone is chosen (logs). */
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

/**
 * The evaluate step: scores the model on the test split as stored (no augmentation), with the
 * threshold fixed or chosen on validation before any test image is read, and writes
 * predictions.json, metrics.json, report.md and four PNG plots under the step's run prefix.
 */
export async function evaluate(store: ObjectStore, input: EvaluateInput, context: StepContext, hooks: EvaluationHooks = {}): Promise<EvaluateOutput> {
  const keys = evaluationKeys(context.runPrefix);
  const backend = await ensureInferenceBackend();
  const trained = await loadTrainedModel(store, input.model, input.classes);
  // The backbone through ONNX Runtime when it converts (features within 1e-4 of tfjs), the head in tfjs.
  const predictor = await createBatchPredictor(trained.model).catch((error: unknown) => {
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

    // The threshold is settled before the test split is read at all.
    let validation: ImagePrediction[] | undefined;
    const threshold = await resolveThreshold(input.threshold, async () => {
      const valKey = input.valManifest;
      if (valKey === undefined) throw new EvaluationError('Choose threshold failed: threshold auto needs valManifest');
      const manifest = await readSplit(store, valKey);
      checkSameClasses(classes, manifest.classes, valKey);
      ({ predictions: validation } = await predictSplit(store, trained, manifest, {
        batchSize: input.batchSize,
        predictor,
        onBatch: (done, total) => hooks.onProgress?.({ phase: 'validation', done, total }),
      }));
      // The manifest's own split field travels with the scores: a test manifest passed as
      // valManifest is refused by the chooser.
      return splitScores(manifest.split, validation, positiveIndex);
    });

    const { predictions: test, pixels: testPixels } = await predictSplit(store, trained, testManifest, {
      batchSize: input.batchSize,
      predictor,
      onBatch: (done, total) => hooks.onProgress?.({ phase: 'test', done, total }),
    });
    const scorecard = scoreBinary(splitScores('test', test, positiveIndex), classes, positiveIndex, threshold);
    await hooks.onProgress?.({ phase: 'plots', done: 0, total: 4 });

    const predictedClass = (p: ImagePrediction) => classes[(p.probabilities[positiveIndex] ?? 0) >= threshold.value ? positiveIndex : 1 - positiveIndex] ?? '';
    const subtitle = `threshold ${threshold.value.toFixed(3)} (${threshold.method === 'fixed' ? 'fixed' : "Youden's J on validation"}), ${scorecard.size} test images`;
    const samples = pickSamples(test, classes.length, input.sampleImages);
    const { width, height } = testPixels;
    // Predictions are in manifest order, as the pixels are.
    const grayOf = (p: ImagePrediction) => {
      const index = test.indexOf(p);
      return testPixels.pixels.subarray(index * width * height, (index + 1) * width * height);
    };
    const [curves, confusion, roc, grid] = await Promise.all([
      loadHistories(store, input.histories).then(trainingCurvesPng),
      confusionMatrixPng(scorecard.confusionMatrix, classes, subtitle),
      rocCurvePng(scorecard.roc, scorecard.headline.auc, scorecard.operatingPoint),
      sampleGridPng(
        samples.map((p) => ({ image: { gray: grayOf(p), width, height }, trueClass: p.class, predictedClass: predictedClass(p), probability: p.probabilities[positiveIndex] ?? 0 })),
        input.positiveClass,
      ),
    ]);
    await Promise.all([
      store.put(keys.plots.curves, curves, 'image/png'),
      store.put(keys.plots.confusion, confusion, 'image/png'),
      store.put(keys.plots.roc, roc, 'image/png'),
      store.put(keys.plots.samples, grid, 'image/png'),
    ]);

    const record = (p: ImagePrediction) => ({ sha256: p.sha256, path: p.path, class: p.class, probability: p.probabilities[positiveIndex] ?? 0, predicted: predictedClass(p) });
    await store.putJson(keys.predictions, {
      version: 1,
      classes,
      positiveClass: input.positiveClass,
      threshold: threshold.value,
      test: test.map(record),
      ...(validation ? { validation: validation.map(record) } : {}),
    });
    // A model chosen by a sweep: a section saying which trial won and why, and its plot.
    const sweepPlotKey = `${context.runPrefix}plots/sweep-trials.png`;
    if (input.sweep) await store.put(sweepPlotKey, await sweepPlot(input.sweep), 'image/png');
    const plots = input.sweep ? { ...keys.plots, sweep: sweepPlotKey } : keys.plots;
    const sweepSection = input.sweep ? `\n${sweepReportSection(input.sweep, sweepPlotKey.slice(context.runPrefix.length))}` : '';
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
