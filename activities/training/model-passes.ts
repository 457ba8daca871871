import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { poolingKindOf, type PoolingKind } from '../features/pooling.ts';
import { foldedInference } from '../model-io/folded-inference.ts';
import type { BuiltModel } from './model-builder.ts';
import { partlyFrozenBackbone } from './partly-frozen-backbone.ts';

/**
 * The forward passes training needs, built once per run from a model's parts: frozen features,
 * the training pass (dropout seeded per batch) and the inference pass. They know whether the
 * trainer feeds them images or cached features.
 */
export interface ModelPasses {
  /** Kinds of the head's leading weightless layers, which run with the frozen backbone (and in the feature workers). */
  readonly poolingKinds: PoolingKind[];
  /** Whether batch-norm is folded into the frozen backbone's convolutions (part of the cached features' identity). */
  readonly folded: boolean;
  /** Frozen backbone plus pooling layers, in inference mode: what is cached. Call inside `tf.tidy`. */
  frozenFeatures(x: tf.Tensor): tf.Tensor;
  /**
   * What the gradient tape sees, computed outside it: a frozen backbone's features, or with a
   * trained backbone the activations of its frozen prefix (the images when all of it trains).
   */
  headInput(x: tf.Tensor): tf.Tensor;
  /**
   * The training pass over `headInput`'s result; dropout draws are seeded by `dropoutSeed`. A
   * trained backbone runs in inference mode (batch-norm on its moving statistics, as in Keras
   * fine-tuning; see partly-frozen-backbone.ts).
   */
  forwardTrain(input: tf.Tensor, dropoutSeed: string): tf.Tensor;
  /** Class probabilities in inference mode, from what the trainer's batches hold. */
  predict(x: tf.Tensor): tf.Tensor;
  dispose(): void;
}

export interface ModelPassOptions {
  /** The trainer's batches hold cached features (after the pooling layers), not images. */
  cached: boolean;
  /** Fold batch-norm into a frozen backbone's convolutions: the same features, 2-3x faster on wasm. */
  foldBatchNorm: boolean;
}

const RateSchema = z.object({ rate: z.number() });

/** `layer.apply` on a concrete tensor, checked. */
function applyLayer(layer: tfl.layers.Layer, x: tf.Tensor, training: boolean): tf.Tensor {
  const out = layer.apply(x, { training });
  if (!(out instanceof tf.Tensor)) throw new Error(`Layer ${layer.name} did not return one tensor`);
  return out;
}

export function createModelPasses(built: BuiltModel, { cached, foldBatchNorm }: ModelPassOptions): ModelPasses {
  const layers = built.head.layers;
  const dropoutRates = layers.map((layer) => (layer.getClassName() === 'Dropout' ? RateSchema.parse(layer.getConfig()).rate : undefined));
  // The head's leading weightless layers (flatten / global pooling) belong with the frozen
  // features: cached after them, every epoch skips them and the cache is smaller.
  const pooling = layers.findIndex((layer, i) => layer.weights.length > 0 || dropoutRates[i] !== undefined);
  const poolingCount = pooling === -1 ? layers.length : pooling;
  const poolingKinds = layers.slice(0, poolingCount).map(poolingKindOf);
  const folded = built.frozenBackbone && foldBatchNorm ? foldedInference(built.backbone) : undefined;
  const partly = built.frozenBackbone ? undefined : partlyFrozenBackbone(built.backbone, { foldBatchNorm });

  /** Head layers from `from` on; dropout (training only) is seeded per (seed, epoch, batch, layer). */
  const runHead = (h: tf.Tensor, from: number, dropoutSeed: string | undefined): tf.Tensor => {
    for (const [i, layer] of layers.entries()) {
      if (i < from) continue;
      const rate = dropoutRates[i];
      if (rate === undefined) h = applyLayer(layer, h, dropoutSeed !== undefined);
      else if (dropoutSeed !== undefined) h = tf.dropout(h, rate, undefined, `${dropoutSeed}:${i}`);
    }
    return h;
  };
  // A frozen backbone runs in inference mode (batch-norm uses its moving statistics and leaves
  // them alone, as in Keras) and outside the gradient tape, which would otherwise hold every
  // activation of the backbone until the backward pass.
  const frozenFeatures = (x: tf.Tensor): tf.Tensor => {
    let h = folded ? folded.run(x) : applyLayer(built.backbone, x, false);
    for (const layer of layers.slice(0, poolingCount)) h = applyLayer(layer, h, false);
    return h;
  };

  return {
    poolingKinds,
    folded: folded !== undefined,
    frozenFeatures,
    headInput: (x) => (cached ? x : partly ? partly.frozenPrefix(x) : frozenFeatures(x)),
    forwardTrain: (input, dropoutSeed) => (partly ? runHead(partly.trainedSuffix(input), 0, dropoutSeed) : runHead(input, poolingCount, dropoutSeed)),
    predict: (x) => {
      if (cached) return runHead(x, poolingCount, undefined);
      return partly ? runHead(partly.trainedSuffix(partly.frozenPrefix(x)), 0, undefined) : applyLayer(built.model, x, false);
    },
    dispose: () => {
      folded?.dispose();
      partly?.dispose();
    },
  };
}
