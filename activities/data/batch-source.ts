import * as tf from '@tensorflow/tfjs-core';
import { createRandom, shuffled } from '../../common/prng.ts';

/** One batch: inputs and one-hot labels. The trainer disposes both after use. */
export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor;
}

/**
 * Where training data comes from. `batches` must give the same batches for the same
 * `(epoch, seed)`, which makes resumed runs identical to uninterrupted ones; each batch's
 * tensors are new (the trainer disposes them).
 */
export interface BatchSource {
  /** Number of examples in one epoch. */
  readonly size: number;
  batches(epoch: number, seed: number): AsyncIterable<Batch> | Iterable<Batch>;
  /**
   * Identity of each example of `batches(epoch, seed)`, in the order they come: what determines
   * its pixels (image hash, preprocessing, scaling, augmentation view). Sources that have it let
   * the trainer persist frozen-backbone features; absent, features are computed every run.
   */
  exampleKeys?(epoch: number, seed: number): string[];
}

export interface TensorSourceOptions {
  batchSize: number;
  /**
   * Shuffle the examples each epoch (seeded by seed and epoch).
   * @default true
   */
  shuffle?: boolean;
}

/**
 * Examples already in memory (synthetic data, cached backbone features). Keeps references to
 * `x` and `y`; the caller disposes them when training is done.
 */
export function tensorSource(x: tf.Tensor, y: tf.Tensor, options: TensorSourceOptions): BatchSource {
  const size = x.shape[0] ?? 0;
  if (y.shape[0] !== size) throw new Error(`Tensor source needs as many labels as examples: ${y.shape[0]} labels, ${size} examples`);
  const { batchSize, shuffle = true } = options;
  return {
    size,
    *batches(epoch: number, seed: number): Iterable<Batch> {
      const order = Array.from({ length: size }, (_, i) => i);
      const indices = shuffle ? shuffled(order, createRandom(seed, 'shuffle', epoch)) : order;
      for (let start = 0; start < size; start += batchSize) {
        const batch = tf.tensor1d(indices.slice(start, start + batchSize), 'int32');
        const result = { x: tf.gather(x, batch), y: tf.gather(y, batch) };
        batch.dispose();
        yield result;
      }
    },
  };
}
