import * as tf from '@tensorflow/tfjs-core';

/** Keras' clipping of probabilities before the log. */
const EPSILON = 1e-7;

/**
 * Mean categorical cross-entropy of softmax outputs, each example weighted by its class weight
 * (Keras semantics: weighted sum divided by the batch size).
 */
export function categoricalCrossentropy(yTrue: tf.Tensor, yPred: tf.Tensor, classWeights?: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const perExample = tf.neg(tf.sum(tf.mul(yTrue, tf.log(tf.clipByValue(yPred, EPSILON, 1 - EPSILON))), -1));
    const weighted = classWeights ? tf.mul(perExample, tf.sum(tf.mul(yTrue, classWeights), -1)) : perExample;
    return tf.mean(weighted);
  });
}

/** Number of examples whose most probable class is the labelled one. */
export function correctCount(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(yTrue, -1), tf.argMax(yPred, -1)), 'float32')));
}

/**
 * ROC AUC of the positive class (index 1) by the rank statistic, ties counted half.
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
