import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { foldedInference, isChain, type FoldedInference } from '../model-io/folded-inference.ts';

/**
 * A backbone of which only a tail trains (`model.trainable: { lastN }` or `{ from }`), split at
 * its first trained layer so that each step pays for the frozen head of the chain only once:
 *
 * - the frozen prefix runs outside the gradient tape, in inference mode and with batch-norm
 *   folded into its convolutions (as a frozen backbone's features do), so the tape holds no
 *   activations of it and the backward pass stops at the split;
 * - the trained suffix runs layer by layer inside the tape, also in inference mode: batch-norm
 *   normalizes with its moving statistics and never updates them, while its scale and offset
 *   train (what Keras' fine-tuning guide does by calling the base model with training=False).
 *   Small fine-tuning batches would otherwise replace ImageNet statistics with noisy ones.
 *
 * Only plain chains (MobileNet v1, VGG) are split; any other graph runs whole inside the tape,
 * still in inference mode. The prefix's activations change with every augmented batch and are
 * too large to keep (14×14×384 floats per image ahead of MobileNet's conv_dw_12), so nothing
 * here is cached across epochs.
 */
export interface PartlyFrozenBackbone {
  /** Images → the frozen prefix's activations (identity when nothing is frozen). Call inside `tf.tidy`, outside the tape. */
  frozenPrefix(x: tf.Tensor): tf.Tensor;
  /** Prefix activations → features, through the trained layers. Call inside the tape. */
  trainedSuffix(h: tf.Tensor): tf.Tensor;
  /** Backbone layers (input layer excluded) in the frozen prefix: 0 when the backbone runs whole. */
  readonly frozenLayers: number;
  /** Frees the folded copies of the prefix's weights. */
  dispose(): void;
}

export interface PartlyFrozenOptions {
  /** Fold batch-norm into the frozen prefix's convolutions. */
  foldBatchNorm: boolean;
}

function applyLayer(layer: tfl.layers.Layer | tfl.LayersModel, x: tf.Tensor): tf.Tensor {
  const out = layer.apply(x, { training: false });
  if (!(out instanceof tf.Tensor)) throw new Error(`Layer ${layer.name} did not return one tensor`);
  return out;
}

export function partlyFrozenBackbone(backbone: tfl.LayersModel, { foldBatchNorm }: PartlyFrozenOptions): PartlyFrozenBackbone {
  const layers = backbone.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  const firstTrained = layers.findIndex((layer) => layer.trainable && layer.weights.length > 0);
  const whole: PartlyFrozenBackbone = {
    frozenPrefix: (x) => x,
    trainedSuffix: (h) => applyLayer(backbone, h),
    frozenLayers: 0,
    dispose: () => undefined,
  };
  if (firstTrained <= 0 || backbone.inputs.length !== 1 || !isChain(layers)) return whole;

  const boundary = layers[firstTrained - 1]?.output;
  if (!boundary || Array.isArray(boundary)) return whole;
  const prefixModel = tfl.model({ inputs: backbone.inputs, outputs: boundary, name: `${backbone.name}_frozen_prefix` });
  const prefix: FoldedInference | undefined = foldBatchNorm ? foldedInference(prefixModel) : undefined;
  const suffix = layers.slice(firstTrained);
  return {
    frozenPrefix: (x) => (prefix ? prefix.run(x) : applyLayer(prefixModel, x)),
    trainedSuffix: (h) => suffix.reduce((out, layer) => applyLayer(layer, out), h),
    frozenLayers: firstTrained,
    dispose: () => prefix?.dispose(),
  };
}
