import type { DatasetSplit } from '../../common/dataset-manifest.ts';
import { EvaluationError } from '../../common/errors.ts';
import type { StepContext } from '../../common/step-activities.ts';
import type { EvaluateInput, EvaluateOutput } from '../../common/step-kinds/evaluate.ts';
import type { ObjectStore } from '../object-store.ts';
import { applyPlatt, calibrationSummary, fitPlatt, type CalibrationSummary, type PlattParameters } from './calibration.ts';
import { loadHistories } from './histories.ts';
import { confusionMatrixPng } from './plots/confusion-matrix.ts';
import { reliabilityDiagramPng } from './plots/reliability-diagram.ts';
import { rocCurvePng } from './plots/roc-curve.ts';
import { trainingCurvesPng } from './plots/training-curves.ts';
import { renderReport, type ExampleUnit } from './report.ts';
import { scoreBinary } from './scoring.ts';
import { sweepPlot, sweepReportSection } from './sweep-report.ts';
import { autoForTestPrior, resolveThreshold } from './guarded-threshold.ts';
import { DEFAULT_SHIFT_MARGIN, priorShift, type PriorShift } from './prior-shift.ts';
import type { GuardDecision, PriorAdjustment, SplitScores } from './threshold.ts';

/**
 * What every evaluation does once it has scores, whoever produced them (a model run here, or a
 * predictions CSV): calibration and threshold settled on validation, the scorecard on test, the
 * plots, predictions.json, report.md and metrics.json. The sources (evaluate-model.ts,
 * evaluate-predictions.ts) only say where the scores come from.
 */

/** Progress of an evaluation: examples scored so far in the split being scored. */
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
      reliability: `${runPrefix}plots/reliability-diagram.png`,
    },
  };
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

/** One scored example of a split, whatever produced its score. */
export interface ScoredExample {
  /** How predictions.json names it: `{ sha256, path }` for an image, `{ id }` for a CSV row. */
  identity: Record<string, string>;
  /** The true class name. */
  class: string;
  /** Whether the true class is the positive class. */
  positive: boolean;
  /** The model's own probability of the positive class (before calibration). */
  score: number;
}

/** A split's scored examples, tagged with the split they come from (calibration and threshold refuse all but `val`). */
export interface ScoredSplit {
  split: DatasetSplit;
  examples: ScoredExample[];
}

/** How a probability of the positive class is turned into a decision, for plots a source draws. */
export interface Decision {
  /** The probability the threshold applies to (calibrated when calibrated). */
  probability: (score: number) => number;
  /** The class predicted for a model score. */
  predictedClass: (score: number) => string;
}

/** Where an evaluation's scores come from, and what the outputs say about it. */
export interface EvaluationSource {
  /** The two classes, in report order, and the index of the positive one. */
  classes: readonly string[];
  positiveIndex: number;
  /** Scores the validation split; called before `test`, and only when calibration or the threshold needs it. */
  validation: (() => Promise<ScoredSplit>) | undefined;
  /** What asking for validation without a source for it lacks, for the error (`valManifest`, `valPredictions`). */
  validationField: string;
  /** Scores the test split. */
  test: () => Promise<ScoredSplit>;
  /** What an example is called in the report and plots. */
  unit: ExampleUnit;
  /** The report's sentence saying what was scored, after `Run <id>, `. */
  subject: (testSize: number) => string;
  /** Paragraphs the report adds after the decision rule (what was left out, and why). */
  notes: string[];
  /** metrics.json fields naming what was scored (before `classes`) and how (after `roc`). */
  metricsSource: Record<string, unknown>;
  metricsRuntime: Record<string, unknown>;
  /** The grid of sample test images; absent when the source has no images. Called after `test`. */
  samplesPng?: (decision: Decision) => Promise<Buffer>;
}

/** The calibration setting in force: the step's, else platt when the threshold is chosen on validation, else none. */
export function calibrationSettingOf(input: Pick<EvaluateInput, 'threshold' | 'calibration'>): NonNullable<EvaluateInput['calibration']> {
  return input.calibration ?? (typeof input.threshold !== 'number' ? 'platt' : 'none');
}

/** Whether an evaluation scores the validation split: for a threshold chosen there, or to fit calibration on it. */
export function needsValidation(input: Pick<EvaluateInput, 'threshold' | 'calibration'>): boolean {
  return typeof input.threshold !== 'number' || calibrationSettingOf(input) === 'platt';
}

const briefly = ({ ece, brier }: CalibrationSummary) => ({ ece, brier });

function splitScoresOf(scored: ScoredSplit): SplitScores {
  return { split: scored.split, labels: scored.examples.map((e) => (e.positive ? 1 : 0)), scores: scored.examples.map((e) => e.score) };
}

/** The guard's decision as the step outputs it (metrics.json has every field). */
function decisionOutput(guard: GuardDecision): NonNullable<EvaluateOutput['thresholdDecision']> {
  const { criterion, defaultThreshold, challengerThreshold, winRate, required, resamples, defaultInterval, challengerInterval, moved } = guard;
  return { criterion, defaultThreshold, challengerThreshold, winRate, required, resamples, defaultInterval, challengerInterval, moved };
}

/** The prior-adjusted cut as the step outputs it (metrics.json also has the Platt parameters it was mapped through). */
function priorAdjustmentOutput(prior: PriorAdjustment): NonNullable<EvaluateOutput['priorAdjustment']> {
  const { validationPrevalence, estimatedPrevalence, calibratedThreshold, guardedThreshold, guardedMethod, applied, thresholdOnModelScale } = prior;
  return { validationPrevalence, estimatedPrevalence, calibratedThreshold, guardedThreshold, guardedMethod, applied, thresholdOnModelScale };
}

/**
 * The test split's positive-class share estimated from its scores by EM, against validation's.
 * EM needs posteriors calibrated to a known prior: Platt fitted on validation gives probabilities
 * calibrated to the validation prevalence whatever class weights training used, so those, with
 * that prevalence as the prior. Without calibration in the step (calibration: none) Platt is
 * still fitted for the estimate alone; where it cannot be (a model ranking validation backwards)
 * the model's own probabilities stand in, and the report says so. Returns the Platt parameters
 * EM used, which `auto`'s prior-adjusted cut maps back to the model's own probability with.
 */
function testPriorShift(
  validation: SplitScores,
  test: SplitScores,
  calibration: AppliedCalibration,
  input: Pick<EvaluateInput, 'shiftMargin' | 'positiveClass'>,
): { shift: PriorShift; platt: PlattParameters | undefined } | undefined {
  const share = (labels: readonly number[]) => labels.reduce((sum, l) => sum + l, 0) / labels.length;
  const validationPrevalence = share(validation.labels);
  if (!(validationPrevalence > 0 && validationPrevalence < 1) || test.labels.length === 0) return undefined;
  let forEm: AppliedCalibration = calibration;
  if (forEm.method !== 'platt') {
    try {
      forEm = fitCalibration(validation);
    } catch {
      forEm = { method: 'none' };
    }
  }
  const posteriors = test.scores.map((p) => calibrate(forEm, p));
  const shift = priorShift(posteriors, validationPrevalence, {
    margin: input.shiftMargin ?? DEFAULT_SHIFT_MARGIN,
    // For the report only: the estimate and the prior-adjusted cut never read the labels.
    actual: share(test.labels),
    positiveClass: input.positiveClass,
    posteriors: forEm.method === 'platt' ? 'calibrated' : 'raw',
  });
  return { shift, platt: forEm.method === 'platt' ? forEm : undefined };
}

/**
 * Scores the test split with the calibration fitted and the threshold fixed or chosen on
 * validation before the test split is scored at all, and writes predictions.json, metrics.json,
 * report.md and the PNG plots under the step's run prefix.
 */
export async function writeEvaluation(store: ObjectStore, input: EvaluateInput, context: StepContext, source: EvaluationSource, hooks: EvaluationHooks = {}): Promise<EvaluateOutput> {
  const keys = evaluationKeys(context.runPrefix);
  const { classes, positiveIndex } = source;

  // Calibration and threshold are settled before the test split is scored. A fixed number
  // keeps meaning the model's own probability unless calibration is asked for.
  const calibrationSetting = calibrationSettingOf(input);
  let validation: ScoredSplit | undefined;
  let validationScores: SplitScores | undefined;
  if (needsValidation(input)) {
    if (source.validation === undefined) throw new EvaluationError(`Choose threshold failed: a threshold chosen on validation or calibration: platt needs ${source.validationField}`);
    validation = await source.validation();
    // The split travels with the scores: a test manifest passed as valManifest is refused by
    // the calibration fit and the threshold chooser.
    validationScores = splitScoresOf(validation);
  }
  const calibration: AppliedCalibration =
    calibrationSetting === 'platt' && validationScores ? fitCalibration(validationScores) : typeof calibrationSetting === 'object' ? calibrationSetting : { method: 'none' };
  const calibrated = calibration.method === 'platt';
  // A fixed number is a cut-off on the calibrated probability when calibration is applied (as
  // before issue 27); auto and criteria say their own scale (the model's own unless asked).
  const chosen = await resolveThreshold(
    input.threshold,
    async () => {
      if (!validationScores) throw new EvaluationError(`Choose threshold failed: a threshold chosen on validation needs ${source.validationField}`);
      return validationScores;
    },
    { fixedScale: calibrated ? 'calibrated' : 'raw', calibrate: calibrated ? (p) => calibrate(calibration, p) : undefined },
  );
  const calibratedProbability = (score: number) => calibrate(calibration, score);

  const test = await source.test();
  const testScores = splitScoresOf(test);
  // The test split's prior, estimated from its scores alone. When it moved past shiftMargin,
  // `auto` re-targets its cut to the estimate (Saerens et al.'s Bayes decision for the new
  // prior): the only thing of the test split the threshold reads is its unlabeled scores.
  // adaptThresholdToShift: false keeps the guarded cut and only reports the adjusted one.
  const estimate = validationScores ? testPriorShift(validationScores, testScores, calibration, input) : undefined;
  const shift = estimate?.shift;
  const threshold = input.threshold === 'auto' ? autoForTestPrior(chosen, shift, estimate?.platt, input.adaptThresholdToShift ?? true) : chosen;
  const scale = threshold.scale ?? 'raw';
  const decide = (score: number) => (scale === 'calibrated' ? calibrate(calibration, score) : score);
  const testDecision = testScores.scores.map(decide);
  const scorecard = scoreBinary(testScores, classes, positiveIndex, threshold, testDecision);
  await hooks.onProgress?.({ phase: 'plots', done: 0, total: source.samplesPng ? 5 : 4 });

  // Calibration of the model's own probabilities and, when calibrated, of the calibrated ones.
  const summaries = {
    test: {
      raw: calibrationSummary(testScores.labels, testScores.scores),
      ...(calibrated ? { calibrated: calibrationSummary(testScores.labels, testScores.scores.map(calibratedProbability)) } : {}),
    },
    ...(validationScores
      ? {
          validation: {
            raw: calibrationSummary(validationScores.labels, validationScores.scores),
            ...(calibrated ? { calibrated: calibrationSummary(validationScores.labels, validationScores.scores.map(calibratedProbability)) } : {}),
          },
        }
      : {}),
  };
  const decisionSummary = (split: { raw: CalibrationSummary; calibrated?: CalibrationSummary }) => split.calibrated ?? split.raw;

  const predictedClass = (score: number) => classes[decide(score) >= threshold.value ? positiveIndex : 1 - positiveIndex] ?? '';
  const how =
    threshold.method === 'fixed'
      ? 'fixed'
      : threshold.method === 'default'
        ? 'auto: default kept'
        : threshold.method === 'prior-adjusted'
          ? `auto: prior-adjusted to ${(100 * threshold.prior.estimatedPrevalence).toFixed(1)} % estimated`
          : `${threshold.method} on validation`;
  const declined = threshold.method !== 'fixed' && threshold.method !== 'prior-adjusted' && threshold.prior ? ', prior adjustment off' : '';
  const subtitle = `threshold ${threshold.value.toFixed(3)}${scale === 'calibrated' ? ' (calibrated)' : ''} (${how}${declined}), ${scorecard.size} test ${source.unit.many}`;
  const reliabilitySeries = [
    ...(summaries.validation ? [{ label: `validation${calibrated ? ', calibrated' : ''}`, summary: decisionSummary(summaries.validation) }] : []),
    { label: `test${calibrated ? ', calibrated' : ''}`, summary: decisionSummary(summaries.test) },
    ...(summaries.test.calibrated ? [{ label: 'test, model output', summary: summaries.test.raw }] : []),
  ];
  const pngs = new Map<string, Promise<Buffer>>([
    ['curves', loadHistories(store, input.histories).then(trainingCurvesPng)],
    ['confusion', confusionMatrixPng(scorecard.confusionMatrix, classes, subtitle)],
    ['roc', rocCurvePng(scorecard.roc, scorecard.headline.auc, scorecard.operatingPoint)],
    ...(source.samplesPng ? [['samples', source.samplesPng({ probability: decide, predictedClass })] as const] : []),
    [
      'reliability',
      reliabilityDiagramPng(reliabilitySeries, `P(${input.positiveClass}); ${calibration.method === 'platt' ? `Platt: σ(${calibration.a.toFixed(3)}·logit p + ${calibration.b.toFixed(3)})` : 'uncalibrated'}`),
    ],
  ]);
  // Every plot but the sample grid, which only a source with images draws.
  const writtenPlots = Object.fromEntries(Object.entries(keys.plots).filter(([name]) => pngs.has(name)));
  await Promise.all(
    Object.entries(writtenPlots).map(async ([name, key]) => {
      const png = pngs.get(name);
      if (png) await store.put(key, await png, 'image/png');
    }),
  );

  const record = (example: ScoredExample) => ({
    ...example.identity,
    class: example.class,
    probability: example.score,
    ...(calibrated ? { calibratedProbability: calibratedProbability(example.score) } : {}),
    predicted: predictedClass(example.score),
  });
  await store.putJson(keys.predictions, {
    version: 1,
    classes,
    positiveClass: input.positiveClass,
    threshold: threshold.value,
    thresholdScale: scale,
    calibration,
    test: test.examples.map(record),
    ...(validation ? { validation: validation.examples.map(record) } : {}),
  });
  // A model chosen by a sweep: a section saying which trial won and why, and its plot.
  const sweepPlotKey = `${context.runPrefix}plots/sweep-trials.png`;
  if (input.sweep) await store.put(sweepPlotKey, await sweepPlot(input.sweep), 'image/png');
  const plots = input.sweep ? { ...writtenPlots, sweep: sweepPlotKey } : writtenPlots;
  const sweepSection = input.sweep ? `\n${sweepReportSection(input.sweep, sweepPlotKey.slice(context.runPrefix.length))}` : '';
  const calibrationMetrics = {
    bins: summaries.test.raw.bins,
    test: briefly(decisionSummary(summaries.test)),
    ...(summaries.validation ? { validation: briefly(decisionSummary(summaries.validation)) } : {}),
  };
  const relativePlots = Object.fromEntries(Object.entries(writtenPlots).map(([name, key]) => [name, key.slice(context.runPrefix.length)]));
  await store.put(
    keys.report,
    renderReport({
      pipeline: context.pipeline,
      workflowId: context.workflowId,
      stepId: context.stepId,
      subject: source.subject(scorecard.size),
      notes: source.notes,
      unit: source.unit,
      classes,
      positiveClass: input.positiveClass,
      threshold,
      calibration,
      calibrationSummaries: summaries,
      ...(shift ? { priorShift: shift } : {}),
      scorecard,
      plots: relativePlots,
    }) + sweepSection,
    'text/markdown; charset=utf-8',
  );
  // metrics.json last: its presence means every other artifact of the evaluation is stored.
  await store.putJson(keys.metrics, {
    version: 1,
    ...source.metricsSource,
    classes,
    positiveClass: input.positiveClass,
    threshold,
    calibration: {
      ...calibration,
      ...(calibration.method === 'platt' ? { formula: 'p_calibrated = 1 / (1 + exp(-(a * logit(p) + b))), p clipped to [1e-7, 1 - 1e-7]' } : {}),
      binning: `${summaries.test.raw.bins} equal-width bins over [0, 1] of P(${input.positiveClass}); ECE = sum over bins of count/N * |fraction positive - mean predicted|`,
      splits: summaries,
    },
    ...(shift ? { priorShift: shift } : {}),
    testSize: scorecard.size,
    headline: scorecard.headline,
    classificationReport: scorecard.report,
    confusionMatrix: scorecard.confusionMatrix,
    roc: scorecard.roc.map((point) => ({ ...point, threshold: Number.isFinite(point.threshold) ? point.threshold : null })),
    ...source.metricsRuntime,
    artifacts: { report: keys.report, predictions: keys.predictions, plots },
  });
  return {
    metrics: scorecard.headline,
    threshold: threshold.value,
    thresholdMethod: threshold.method,
    thresholdScale: scale,
    ...(threshold.method === 'fixed' || threshold.method === 'default' || threshold.method === 'prior-adjusted' ? {} : { thresholdInterval: threshold.interval }),
    ...(threshold.method !== 'fixed' && threshold.guard ? { thresholdDecision: decisionOutput(threshold.guard) } : {}),
    ...(threshold.method !== 'fixed' && threshold.prior ? { priorAdjustment: priorAdjustmentOutput(threshold.prior) } : {}),
    calibration,
    calibrationMetrics,
    ...(shift ? { estimatedPrevalence: shift.estimated, validationPrevalence: shift.validation, ...(shift.warning ? { shiftWarning: shift.warning } : {}) } : {}),
    testSize: scorecard.size,
    metricsKey: keys.metrics,
    predictions: keys.predictions,
    report: keys.report,
    plots,
  };
}
