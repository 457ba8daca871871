import * as tf from '@tensorflow/tfjs-core';
import type { TrainSettings } from '../../common/model-spec.ts';
import type { BatchSource } from '../data/batch-source.ts';
import { correctCount, type Targets } from './loss-targets.ts';
import { lossValue, positiveScore, rocAuc } from './losses.ts';

export interface Evaluation {
  loss: number;
  accuracy: number;
  /** NaN when the labels hold one class only. */
  auc: number;
}

/** Loss, accuracy and ROC AUC of `predict` over one unshuffled pass of `source` (the epoch's validation). */
export async function evaluate(
  predict: (x: tf.Tensor) => tf.Tensor,
  targetsOf: (y: tf.Tensor) => Targets,
  loss: TrainSettings['loss'],
  source: BatchSource,
  seed: number,
): Promise<Evaluation> {
  let lossSum = 0;
  let correct = 0;
  let count = 0;
  const labels: number[] = [];
  const scores: number[] = [];
  for await (const { x, y } of source.batches(0, seed)) {
    const [stats, label, score] = tf.tidy(() => {
      const probabilities = predict(x);
      const { target, labels: indices, sampleWeights } = targetsOf(y);
      const n = x.shape[0] ?? 0;
      return [
        tf.stack([tf.mul(lossValue(loss, target, probabilities, sampleWeights), n), correctCount(indices, probabilities)]),
        indices,
        positiveScore(probabilities),
      ];
    });
    const [batchLoss = 0, batchCorrect = 0] = await stats.data();
    lossSum += batchLoss;
    correct += batchCorrect;
    count += x.shape[0] ?? 0;
    labels.push(...(await label.data()));
    scores.push(...(await score.data()));
    tf.dispose([x, y, stats, label, score]);
  }
  return { loss: lossSum / Math.max(count, 1), accuracy: correct / Math.max(count, 1), auc: rocAuc(labels, scores) };
}
