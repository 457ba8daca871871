/**
 * Classification metrics as pure functions, defined as scikit-learn defines them so the numbers
 * can be checked against it (test/fixtures/metrics): labels are class indices, `scores` are the
 * predicted probability of the positive class, and a score at or above a threshold counts as a
 * positive prediction (sklearn's `roc_curve` convention). A ratio with a zero denominator is 0,
 * as sklearn's `zero_division="warn"` returns.
 */

/** Precision, recall, F1 and support of one class (or an average of them). */
export interface ClassScores {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** scikit-learn's `classification_report(output_dict=True)` layout. */
export interface ClassificationReport {
  /** Per class, in class-index order. */
  classes: Array<ClassScores & { name: string }>;
  accuracy: number;
  macroAvg: ClassScores;
  weightedAvg: ClassScores;
}

/** One point of a curve swept over decreasing thresholds. */
export interface RocPoint {
  threshold: number;
  fpr: number;
  tpr: number;
}

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}

function checkSameLength(what: string, a: readonly unknown[], b: readonly unknown[]): void {
  if (a.length !== b.length) throw new RangeError(`${what} needs as many predictions as labels: ${b.length} predictions, ${a.length} labels`);
}

/** Share of predictions equal to the label. */
export function accuracy(labels: readonly number[], predicted: readonly number[]): number {
  checkSameLength('accuracy', labels, predicted);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === predicted[i]) correct++;
  return ratio(correct, labels.length);
}

/** Counts with rows = true class and columns = predicted class (sklearn's `confusion_matrix`). */
export function confusionMatrix(labels: readonly number[], predicted: readonly number[], classCount: number): number[][] {
  checkSameLength('confusion matrix', labels, predicted);
  const matrix = Array.from({ length: classCount }, () => new Array<number>(classCount).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const row = matrix[labels[i] ?? -1];
    const column = predicted[i] ?? -1;
    if (!row || column < 0 || column >= classCount) {
      throw new RangeError(`confusion matrix: label ${labels[i]} or prediction ${predicted[i]} at ${i} is not a class index below ${classCount}`);
    }
    row[column] = (row[column] ?? 0) + 1;
  }
  return matrix;
}

function f1Of(precision: number, recall: number): number {
  return ratio(2 * precision * recall, precision + recall);
}

/** Per-class precision, recall, F1 and support, plus accuracy and macro/weighted averages. */
export function classificationReport(labels: readonly number[], predicted: readonly number[], classNames: readonly string[]): ClassificationReport {
  const matrix = confusionMatrix(labels, predicted, classNames.length);
  const classes = classNames.map((name, c) => {
    const truePositives = matrix[c]?.[c] ?? 0;
    const support = (matrix[c] ?? []).reduce((sum, n) => sum + n, 0);
    const predictedCount = matrix.reduce((sum, row) => sum + (row[c] ?? 0), 0);
    const precision = ratio(truePositives, predictedCount);
    const recall = ratio(truePositives, support);
    return { name, precision, recall, f1: f1Of(precision, recall), support };
  });
  const total = labels.length;
  const average = (weight: (s: ClassScores) => number, denominator: number): ClassScores => ({
    precision: ratio(classes.reduce((sum, s) => sum + s.precision * weight(s), 0), denominator),
    recall: ratio(classes.reduce((sum, s) => sum + s.recall * weight(s), 0), denominator),
    f1: ratio(classes.reduce((sum, s) => sum + s.f1 * weight(s), 0), denominator),
    support: total,
  });
  return {
    classes,
    accuracy: accuracy(labels, predicted),
    macroAvg: average(() => 1, classes.length),
    weightedAvg: average((s) => s.support, total),
  };
}

/** Positive-class labels (1) and scores, checked to be usable by the ranking metrics. */
function binary(labels: readonly number[], scores: readonly number[], what: string): { positives: number; negatives: number } {
  checkSameLength(what, labels, scores);
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label !== 0 && label !== 1) throw new RangeError(`${what} needs binary labels (0 or 1): got ${label} at ${i}`);
    if (!Number.isFinite(scores[i])) throw new RangeError(`${what} needs finite scores: got ${scores[i]} at ${i}`);
    positives += label;
  }
  return { positives, negatives: labels.length - positives };
}

/**
 * Cumulative true and false positives at each distinct score, highest first: tied scores form
 * one step, which is how sklearn handles ties (a diagonal segment of the ROC curve).
 */
export function thresholdSteps(labels: readonly number[], scores: readonly number[]): Array<{ threshold: number; tp: number; fp: number }> {
  const order = scores.map((_, i) => i).sort((a, b) => (scores[b] ?? 0) - (scores[a] ?? 0));
  const steps: Array<{ threshold: number; tp: number; fp: number }> = [];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k] ?? 0;
    if (labels[i] === 1) tp++;
    else fp++;
    const next = order[k + 1];
    if (next === undefined || scores[next] !== scores[i]) steps.push({ threshold: scores[i] ?? 0, tp, fp });
  }
  return steps;
}

/**
 * ROC curve from (0, 0) through every distinct threshold (sklearn's `roc_curve` with
 * `drop_intermediate=False`; the first point's threshold is `Infinity`).
 */
export function rocCurve(labels: readonly number[], scores: readonly number[]): RocPoint[] {
  const { positives, negatives } = binary(labels, scores, 'ROC curve');
  if (positives === 0 || negatives === 0) throw new RangeError(`ROC curve needs both classes: ${positives} positives, ${negatives} negatives`);
  return [
    { threshold: Infinity, fpr: 0, tpr: 0 },
    ...thresholdSteps(labels, scores).map(({ threshold, tp, fp }) => ({ threshold, fpr: fp / negatives, tpr: tp / positives })),
  ];
}

/** Area under the ROC curve by the trapezoidal rule (sklearn's `roc_auc_score`). */
export function rocAuc(labels: readonly number[], scores: readonly number[]): number {
  const curve = rocCurve(labels, scores);
  let area = 0;
  for (let k = 1; k < curve.length; k++) {
    const a = curve[k - 1];
    const b = curve[k];
    if (a && b) area += ((b.fpr - a.fpr) * (a.tpr + b.tpr)) / 2;
  }
  return area;
}

/**
 * Area under the precision-recall curve as sklearn's `average_precision_score`: the sum over
 * distinct thresholds of (recall increase) × precision, no interpolation.
 */
export function averagePrecision(labels: readonly number[], scores: readonly number[]): number {
  const { positives } = binary(labels, scores, 'average precision');
  if (positives === 0) throw new RangeError('average precision needs at least one positive label');
  let previousRecall = 0;
  let sum = 0;
  for (const { tp, fp } of thresholdSteps(labels, scores)) {
    const recall = tp / positives;
    sum += (recall - previousRecall) * (tp / (tp + fp));
    previousRecall = recall;
  }
  return sum;
}

/** Probabilities are clipped to [eps, 1 − eps] with float64's eps, as sklearn ≥ 1.5 does. */
const LOG_LOSS_EPS = Number.EPSILON;

/** Mean binary cross-entropy of the positive-class probabilities (sklearn's `log_loss`). */
export function logLoss(labels: readonly number[], scores: readonly number[]): number {
  binary(labels, scores, 'log loss');
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(Math.max(scores[i] ?? 0, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return ratio(sum, labels.length);
}

/** 1 where the score is at or above the threshold. */
export function predictAtThreshold(scores: readonly number[], threshold: number): number[] {
  return scores.map((score) => (score >= threshold ? 1 : 0));
}

/** Sensitivity (recall of the positive class) and specificity (recall of the negative class). */
export function sensitivitySpecificity(labels: readonly number[], predicted: readonly number[]): { sensitivity: number; specificity: number } {
  const matrix = confusionMatrix(labels, predicted, 2);
  const [tn = 0, fp = 0] = matrix[0] ?? [];
  const [fn = 0, tp = 0] = matrix[1] ?? [];
  return { sensitivity: ratio(tp, tp + fn), specificity: ratio(tn, tn + fp) };
}
