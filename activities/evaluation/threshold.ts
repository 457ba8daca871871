import type { DatasetSplit } from '../../common/dataset-manifest.ts';
import { EvaluationError } from '../../common/errors.ts';
import { rocCurve } from './metrics.ts';

/** Binary labels (1 = positive class) and positive-class probabilities of one split. */
export interface SplitScores {
  /** Which split the scores come from: the threshold chooser refuses anything but `val`. */
  split: DatasetSplit;
  labels: readonly number[];
  scores: readonly number[];
}

/** The decision threshold and how it was chosen (recorded in metrics.json and the report). */
export type ThresholdChoice =
  | { value: number; method: 'fixed' }
  | { value: number; method: 'youden'; split: 'val'; validationSize: number; youdenJ: number; tpr: number; fpr: number };

/**
 * Youden's J (sensitivity + specificity − 1) maximized over the validation split's ROC
 * thresholds; the first (highest) threshold wins a tie, as `argmax` does. Choosing on test
 * would leak the test labels into the score it reports, so any other split is refused.
 */
export function youdenThreshold(validation: SplitScores): Extract<ThresholdChoice, { method: 'youden' }> {
  if (validation.split !== 'val') {
    throw new EvaluationError(`Choose threshold failed: Youden's J must be computed on the validation split, not '${validation.split}'`);
  }
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
  return { value: best.threshold, method: 'youden', split: 'val', validationSize: validation.labels.length, youdenJ: best.j, tpr: best.tpr, fpr: best.fpr };
}

/**
 * The threshold a step asked for: a fixed number, or `auto` chosen on validation. Takes the
 * validation scores only (lazily, so a fixed threshold reads no validation data); the test
 * split's scores never reach this function.
 */
export async function resolveThreshold(setting: number | 'auto', validation: () => Promise<SplitScores>): Promise<ThresholdChoice> {
  if (setting !== 'auto') return { value: setting, method: 'fixed' };
  return youdenThreshold(await validation());
}
