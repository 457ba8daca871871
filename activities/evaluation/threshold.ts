import type { DatasetSplit } from '../../common/dataset-manifest.ts';
import { EvaluationError } from '../../common/errors.ts';
import type { ThresholdCriterion, ThresholdRule } from '../../common/step-kinds/evaluate.ts';
import { rocCurve, thresholdSteps } from './metrics.ts';

/** Binary labels (1 = positive class) and positive-class probabilities of one split. */
export interface SplitScores {
  /** Which split the scores come from: the threshold chooser refuses anything but `val`. */
  split: DatasetSplit;
  labels: readonly number[];
  scores: readonly number[];
}

/**
 * Thresholds t with `low < t ≤ high` that were all as good as the best on validation (within
 * `tolerance`): each classifies the validation split the same way as one of the equally good
 * operating points.
 */
export interface ThresholdInterval {
  low: number;
  high: number;
}

/** A threshold chosen on validation by a named criterion. */
export interface CriterionChoice {
  value: number;
  method: ThresholdCriterion;
  split: 'val';
  validationSize: number;
  /** The least sensitivity the rule accepted (sensitivity criterion, or `min` on another). */
  minSensitivity?: number;
  /** The criterion at the chosen threshold and its best value on validation. */
  score: number;
  best: number;
  /** How far below `best` still counted as equally good. */
  tolerance: number;
  /** Interval of equally good thresholds; `value` is its middle. */
  interval: ThresholdInterval;
  /** Scale of `value` and `interval`: the calibrated probability, or the model's own. */
  scale: 'calibrated' | 'raw';
  tpr: number;
  fpr: number;
}

/**
 * How `auto` decided between its default and the criterion's best validation threshold: a
 * seeded bootstrap of the validation split (guarded-threshold.ts).
 */
export interface GuardDecision {
  criterion: GuardCriterion;
  /** The default: the model's own probability at 0.5. */
  defaultThreshold: number;
  /** The criterion's best validation threshold (the middle of its equally good interval), on the model's own probability. */
  challengerThreshold: number;
  /** The criterion on the whole validation split at each threshold. */
  defaultScore: number;
  challengerScore: number;
  resamples: number;
  seed: string;
  /** Resamples where the challenger scored strictly higher than the default, and their share of all resamples. */
  wins: number;
  winRate: number;
  /** The least win rate that moves the threshold off the default. */
  required: number;
  /** Resamples lacking a class (the criterion undefined): counted as no win, left out of the intervals. */
  skipped: number;
  /** Percentile 95 % intervals of the criterion over the resamples. */
  defaultInterval: ThresholdInterval;
  challengerInterval: ThresholdInterval;
  /** Whether the challenger won often enough to replace the default. */
  moved: boolean;
}

/**
 * How `auto` re-targeted its decision to the test split's estimated prior: the calibrated
 * posterior re-weighted from the validation prior to the estimate and cut at 0.5, which is a cut
 * at `calibratedThreshold` on the calibrated probability and at the decision's `value` on the
 * model's own. The estimate comes from the test split's scores, never its labels.
 */
export interface PriorAdjustment {
  validationPrevalence: number;
  estimatedPrevalence: number;
  /** The cut on the Platt-calibrated probability (calibrated to the validation prior). */
  calibratedThreshold: number;
  /** The Platt parameters that map the model's probability to the calibrated one (fitted on validation, or given in the step). */
  calibration: { a: number; b: number };
  /** What the guarded rule alone chose, on the model's own probability, and how. */
  guardedThreshold: number;
  guardedMethod: 'default' | GuardCriterion;
  /** The prior-adjusted cut on the model's own probability (through the inverse of Platt). */
  thresholdOnModelScale: number;
  /** false: `adaptThresholdToShift: false` kept the guarded threshold; this cut is reported, not used. */
  applied: boolean;
}

/** Criteria the bootstrap guard can compare (the sensitivity floor has no single score to compare). */
export type GuardCriterion = Exclude<ThresholdCriterion, 'sensitivity'>;

/** The decision threshold and how it was chosen (recorded in metrics.json and the report). */
export type ThresholdChoice =
  | { value: number; method: 'fixed'; scale?: 'calibrated' | 'raw' }
  /** `auto` kept its default, 0.5 on the model's own probability, after the bootstrap guard. */
  /** `prior` (applied: false): the test prior moved past `shiftMargin` but `adaptThresholdToShift: false` kept the guarded cut. */
  | { value: number; method: 'default'; scale: 'raw'; guard: GuardDecision; prior?: PriorAdjustment }
  /** `auto` on a test split whose estimated prior moved past `shiftMargin`: the Bayes cut for that prior (guarded-threshold.ts). */
  | { value: number; method: 'prior-adjusted'; scale: 'raw'; guard: GuardDecision; prior: PriorAdjustment }
  | (CriterionChoice & { guard?: GuardDecision; prior?: PriorAdjustment });

/** What the guarded `auto` chose on validation: its default, or the criterion's best; either way with the guard's numbers. */
export type GuardedChoice = Extract<ThresholdChoice, { method: 'default' }> | (CriterionChoice & { guard: GuardDecision });

function checkValidation(validation: SplitScores, what: string): void {
  if (validation.split !== 'val') {
    throw new EvaluationError(`Choose threshold failed: ${what} must be computed on the validation split, not '${validation.split}'`);
  }
}

/**
 * Youden's J (sensitivity + specificity − 1) maximized over the validation split's ROC
 * thresholds; the first (highest) threshold wins a tie, as `argmax` does. This is the rule
 * before issue 14 (it lands on the edge of a flat optimum), kept as the scikit-learn-checked
 * reference; `chooseThreshold` is what `auto` uses.
 */
export function youdenThreshold(validation: SplitScores): { value: number; youdenJ: number; tpr: number; fpr: number } {
  checkValidation(validation, "Youden's J");
  let curve;
  try {
    curve = rocCurve(validation.labels, validation.scores);
  } catch (error) {
    throw new EvaluationError(`Choose threshold failed on the validation split: ${error instanceof Error ? error.message : String(error)}`);
  }
  let best = { threshold: 0.5, fpr: 0, tpr: 0, j: -Infinity };
  for (const point of curve) {
    if (!Number.isFinite(point.threshold)) continue;
    const j = point.tpr - point.fpr;
    if (j > best.j) best = { ...point, j };
  }
  return { value: best.threshold, youdenJ: best.j, tpr: best.tpr, fpr: best.fpr };
}

/** Confusion counts of one operating point and the class totals. */
export interface Counts {
  tp: number;
  fp: number;
  positives: number;
  negatives: number;
}

/** The criterion at an operating point; undefined where the rule's sensitivity floor excludes it. */
export function criterionValue(criterion: ThresholdCriterion, { tp, fp, positives, negatives }: Counts): number {
  const sensitivity = tp / positives;
  const specificity = 1 - fp / negatives;
  switch (criterion) {
    case 'youden':
      return sensitivity + specificity - 1;
    case 'balanced-accuracy':
      return (sensitivity + specificity) / 2;
    case 'f1':
      return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + (positives - tp));
    case 'sensitivity':
      // Sensitivity is the floor; among thresholds above it, the most specific is best.
      return specificity;
  }
}

/**
 * What one more validation mistake at the best operating point would cost the criterion (one
 * positive missed, or one negative flagged, whichever costs more): differences smaller than
 * that are one image's worth of noise, and thresholds within it count as equally good.
 */
function oneImageTolerance(criterion: ThresholdCriterion, at: Counts): number {
  const value = criterionValue(criterion, at);
  const costs: number[] = [];
  if (at.fp < at.negatives) costs.push(value - criterionValue(criterion, { ...at, fp: at.fp + 1 }));
  if (criterion !== 'sensitivity' && at.tp > 0) costs.push(value - criterionValue(criterion, { ...at, tp: at.tp - 1 }));
  return Math.max(0, ...costs.map(Math.abs));
}

/** Float slack for comparing criterion values computed from different counts. */
const EPSILON = 1e-12;

/**
 * Chooses the threshold on validation by a named criterion and returns the middle of the
 * interval of equally good thresholds rather than its edge.
 *
 * Operating point k predicts positive the k highest distinct scores; it holds for every
 * threshold in (s_{k+1}, s_k] (s_0 = 1, s_{m+1} = 0 at the ends). Points whose criterion is within
 * `tolerance` of the best (default: one image's worth, see `oneImageTolerance`), and meet the
 * sensitivity floor, are equally good; a contiguous run of them is an interval of thresholds.
 * The widest run holding a best point wins, and its middle is the threshold: on an almost
 * separable validation split the best points sit in a wide gap between the classes' scores, and
 * argmax's choice (the lowest positive's score, the gap's edge) is the one least likely to
 * transfer to new images. Scores should be calibrated so the middle is a middle in probability.
 */
export function chooseThreshold(validation: SplitScores, rule: ThresholdRule, scale: 'calibrated' | 'raw'): CriterionChoice {
  checkValidation(validation, 'the threshold');
  const { labels, scores } = validation;
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) throw new EvaluationError(`Choose threshold failed: validation labels must be 0 or 1, got ${labels[i]} at ${i}`);
    if (!Number.isFinite(scores[i])) throw new EvaluationError(`Choose threshold failed: validation scores must be finite, got ${scores[i]} at ${i}`);
    positives += labels[i] ?? 0;
  }
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) {
    throw new EvaluationError(`Choose threshold failed on the validation split: it needs both classes, but has ${positives} positives and ${negatives} negatives`);
  }
  const minSensitivity = rule.min;
  // Distinct scores, highest first, with cumulative counts (the ROC curve's steps): operating
  // points 1..m; point 0 predicts nothing positive.
  const steps = thresholdSteps(labels, scores);
  const distinct = steps.map((step) => step.threshold);
  const points: Counts[] = [{ tp: 0, fp: 0, positives, negatives }, ...steps.map(({ tp, fp }) => ({ tp, fp, positives, negatives }))];
  const feasible = points.map((p) => minSensitivity === undefined || p.tp / positives >= minSensitivity - EPSILON);
  const values = points.map((p) => criterionValue(rule.criterion, p));
  let bestIndex = -1;
  for (let k = 0; k < points.length; k++) if (feasible[k] && (bestIndex < 0 || (values[k] ?? 0) > (values[bestIndex] ?? 0) + EPSILON)) bestIndex = k;
  if (bestIndex < 0) throw new EvaluationError(`Choose threshold failed: no threshold reaches sensitivity ${minSensitivity} on the validation split`);
  const best = values[bestIndex] ?? 0;
  const bestPoint = points[bestIndex] ?? points[0];
  const tolerance = rule.tolerance ?? (bestPoint ? oneImageTolerance(rule.criterion, bestPoint) : 0);
  const good = (k: number) => feasible[k] === true && (values[k] ?? -Infinity) >= best - tolerance - EPSILON;
  const isBest = (k: number) => feasible[k] === true && (values[k] ?? -Infinity) >= best - EPSILON;

  // Threshold bounds of point k: (lowOf(k), highOf(k)].
  const highOf = (k: number) => (k === 0 ? 1 : (distinct[k - 1] ?? 1));
  const lowOf = (k: number) => (k === points.length - 1 ? 0 : (distinct[k] ?? 0));
  let chosen: { first: number; last: number } | undefined;
  for (let k = 0; k < points.length; ) {
    if (!good(k)) {
      k++;
      continue;
    }
    let last = k;
    while (last + 1 < points.length && good(last + 1)) last++;
    let holdsBest = false;
    for (let j = k; j <= last; j++) holdsBest ||= isBest(j);
    const width = highOf(k) - lowOf(last);
    if (holdsBest && (!chosen || width > highOf(chosen.first) - lowOf(chosen.last))) chosen = { first: k, last };
    k = last + 1;
  }
  // The run holding bestIndex always qualifies; the fallback only satisfies the type checker.
  const run = chosen ?? { first: bestIndex, last: bestIndex };
  const interval = { low: lowOf(run.last), high: highOf(run.first) };
  const value = (interval.low + interval.high) / 2;
  // The point the middle threshold lands on: the first whose lower bound lies below it.
  let at = run.first;
  while (at < run.last && lowOf(at) >= value) at++;
  const landed = points[at] ?? bestPoint ?? { tp: 0, fp: 0, positives, negatives };
  return {
    value,
    method: rule.criterion,
    split: 'val',
    validationSize: labels.length,
    ...(minSensitivity === undefined ? {} : { minSensitivity }),
    score: values[at] ?? best,
    best,
    tolerance,
    interval,
    scale,
    tpr: landed.tp / positives,
    fpr: landed.fp / negatives,
  };
}

/** The criterion `auto` compares its default 0.5 with (guarded-threshold.ts): Youden's J, equally good within one image, middle of the interval. */
export const AUTO_RULE: ThresholdRule = { criterion: 'youden' };
