import * as tf from '@tensorflow/tfjs-core';
import type { LossName } from '../../common/model-spec.ts';

/** Keras' clipping of probabilities before the log. */
const EPSILON = 1e-7;

/**
 * Mean loss over a batch, each example weighted by `sampleWeights` when given (Keras semantics:
 * weighted sum divided by the batch size). `yPred` holds probabilities (softmax or sigmoid).
 */
export function lossValue(name: LossName, yTrue: tf.Tensor, yPred: tf.Tensor, sampleWeights?: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.clipByValue(yPred, EPSILON, 1 - EPSILON);
    const perExample =
      name === 'categoricalCrossentropy'
        ? tf.neg(tf.sum(tf.mul(yTrue, tf.log(p)), -1))
        : tf.neg(tf.mean(tf.add(tf.mul(yTrue, tf.log(p)), tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p)))), -1));
    return tf.mean(sampleWeights ? tf.mul(perExample, sampleWeights) : perExample);
  });
}

/** Index of the predicted class: argmax, or `p > 0.5` for a single sigmoid unit. */
export function predictedClass(probabilities: tf.Tensor): tf.Tensor {
  return probabilities.shape[1] === 1 ? tf.cast(tf.greater(tf.squeeze(probabilities, [1]), 0.5), 'int32') : tf.argMax(probabilities, -1);
}

/** Probability of the positive class (index 1, or the single sigmoid unit), for ROC AUC. */
export function positiveScore(probabilities: tf.Tensor): tf.Tensor {
  return tf.squeeze(tf.slice(probabilities, [0, probabilities.shape[1] === 1 ? 0 : 1], [-1, 1]), [1]);
}

/**
 * ROC AUC of the positive class by the rank statistic, ties counted half.
 * `labels` are 0/1, `scores` the positive-class probabilities. NaN when a class is absent.
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => (scores[a] ?? 0) - (scores[b] ?? 0));
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1] ?? 0] === scores[order[i] ?? 0]) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k] ?? 0] === 1) {
        positives++;
        rankSum += averageRank;
      }
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}
