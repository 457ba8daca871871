import { EvaluationError } from '../../common/errors.ts';
import {
  averagePrecision,
  classificationReport,
  confusionMatrix,
  logLoss,
  predictAtThreshold,
  rocAuc,
  rocCurve,
  sensitivitySpecificity,
  type ClassificationReport,
  type RocPoint,
} from './metrics.ts';
import type { SplitScores, ThresholdChoice } from './threshold.ts';

/** Headline metrics of the positive class: what the step outputs and the promotion gate reads. */
export interface HeadlineMetrics {
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  sensitivity: number;
  specificity: number;
  auc: number;
  prAuc: number;
  logLoss: number;
}

/** Everything computed from one split's predictions at one threshold. */
export interface Scorecard {
  size: number;
  headline: HeadlineMetrics;
  report: ClassificationReport;
  /** Rows: true class, columns: predicted class, in class order. */
  confusionMatrix: number[][];
  roc: RocPoint[];
  /** ROC point of the chosen threshold. */
  operatingPoint: { threshold: number; fpr: number; tpr: number };
}

/**
 * Scores a binary classifier's test predictions at a threshold chosen beforehand. The threshold
 * applies to `decisionScores` (the calibrated probabilities, when calibrated; else the model's
 * own); ROC, AUCs and log loss are of the model's own probabilities.
 */
export function scoreBinary(test: SplitScores, classes: readonly string[], positiveIndex: number, threshold: ThresholdChoice, decisionScores: readonly number[] = test.scores): Scorecard {
  const positives = test.labels.filter((l) => l === 1).length;
  if (positives === 0 || positives === test.labels.length) {
    throw new EvaluationError(`Score test split failed: it needs both classes for ROC AUC, but has ${positives} of ${test.labels.length} images in '${classes[positiveIndex]}'`);
  }
  const predictedPositive = predictAtThreshold(decisionScores, threshold.value);
  // Class-index labels for the report: with two classes the negative class is the other index.
  const negativeIndex = positiveIndex === 0 ? 1 : 0;
  const toClass = (binary: number) => (binary === 1 ? positiveIndex : negativeIndex);
  const labels = test.labels.map(toClass);
  const predicted = predictedPositive.map(toClass);
  const report = classificationReport(labels, predicted, classes);
  const positive = report.classes[positiveIndex];
  const { sensitivity, specificity } = sensitivitySpecificity(test.labels, predictedPositive);
  return {
    size: test.labels.length,
    headline: {
      accuracy: report.accuracy,
      precision: positive?.precision ?? 0,
      recall: positive?.recall ?? 0,
      f1: positive?.f1 ?? 0,
      sensitivity,
      specificity,
      auc: rocAuc(test.labels, test.scores),
      prAuc: averagePrecision(test.labels, test.scores),
      logLoss: logLoss(test.labels, test.scores),
    },
    report,
    confusionMatrix: confusionMatrix(labels, predicted, classes.length),
    roc: rocCurve(test.labels, test.scores),
    operatingPoint: { threshold: threshold.value, fpr: 1 - specificity, tpr: sensitivity },
  };
}
