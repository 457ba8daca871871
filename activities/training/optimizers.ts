import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerSpec } from '../../common/model-spec.ts';
import { LeanAdam, LeanRmsprop, type LearningRateScales } from './lean-optimizers.ts';

export type { LearningRateScales } from './lean-optimizers.ts';

/** Keras' default epsilon for RMSprop and Adam (tfjs would otherwise pick the backend's). */
const EPSILON = 1e-7;

type NamedTensor = { name: string; tensor: tf.Tensor };

/** SGD whose step for some variables is scaled: the update is linear in the gradient, so scaling the gradient is exact. */
class ScaledSgd extends tf.SGDOptimizer {
  constructor(
    learningRate: number,
    private readonly scales: LearningRateScales,
  ) {
    super(learningRate);
  }

  override applyGradients(gradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries = Array.isArray(gradients) ? gradients.map(({ name, tensor }) => [name, tensor] as const) : Object.entries(gradients);
    const scaled = tf.tidy(() => entries.map(([name, tensor]) => {
      const scale = this.scales.get(name);
      return { name, tensor: scale === undefined || scale === 1 ? tf.clone(tensor) : tf.mul(tensor, scale) };
    }));
    super.applyGradients(scaled);
    tf.dispose(scaled.map(({ tensor }) => tensor));
  }
}

/**
 * The optimizer a spec names, with Keras' defaults (rho 0.9, betas 0.9/0.999, no momentum);
 * `scales` multiplies the learning rate of the variables it names (a fine-tuned backbone's).
 */
export function createOptimizer(spec: OptimizerSpec, scales: LearningRateScales = new Map()): tf.Optimizer {
  switch (spec.name) {
    case 'rmsprop':
      return new LeanRmsprop(spec.learningRate, 0.9, EPSILON, scales);
    case 'adam':
      return new LeanAdam(spec.learningRate, 0.9, 0.999, EPSILON, scales);
    case 'sgd':
      return scales.size > 0 ? new ScaledSgd(spec.learningRate, scales) : tf.train.sgd(spec.learningRate);
  }
}
