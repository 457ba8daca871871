import * as tf from '@tensorflow/tfjs-core';
import { predictedClass } from './losses.ts';

/** What one batch's labels become for the loss and the metrics. */
export interface Targets {
  /** What the loss compares with the output: the one-hot labels, or their positive column for one sigmoid unit. */
  target: tf.Tensor;
  /** Class indices, for accuracy and AUC. */
  labels: tf.Tensor;
  /** Per-example weights from `classWeights`, when set. */
  sampleWeights?: tf.Tensor;
}

/**
 * Loss targets from one-hot labels [batch, classes]; a single sigmoid unit learns the positive
 * (index 1) column. Call inside `tf.tidy`: the results are new tensors.
 */
export function lossTargets(outputUnits: number, classWeights: tf.Tensor | undefined): (y: tf.Tensor) => Targets {
  return (y) => ({
    target: outputUnits === 1 && y.shape[1] !== 1 ? tf.slice(y, [0, 1], [-1, 1]) : y,
    labels: y.shape[1] === 1 ? tf.cast(tf.greater(tf.squeeze(y, [1]), 0.5), 'int32') : tf.argMax(y, -1),
    ...(classWeights ? { sampleWeights: tf.sum(tf.mul(y, classWeights), -1) } : {}),
  });
}

/** How many of a batch's predictions name the labelled class. */
export function correctCount(labels: tf.Tensor, probabilities: tf.Tensor): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.cast(labels, 'int32'), tf.cast(predictedClass(probabilities), 'int32')), 'float32'));
}
