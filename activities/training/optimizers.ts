import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerSpec } from '../../common/model-spec.ts';
import { LeanAdam, LeanRmsprop } from './lean-optimizers.ts';

/** Keras' default epsilon for RMSprop and Adam (tfjs would otherwise pick the backend's). */
const EPSILON = 1e-7;

/** The optimizer a spec names, with Keras' defaults (rho 0.9, betas 0.9/0.999, no momentum). */
export function createOptimizer(spec: OptimizerSpec): tf.Optimizer {
  switch (spec.name) {
    case 'rmsprop':
      return new LeanRmsprop(spec.learningRate, 0.9, EPSILON);
    case 'adam':
      return new LeanAdam(spec.learningRate, 0.9, 0.999, EPSILON);
    case 'sgd':
      return tf.train.sgd(spec.learningRate);
  }
}
