import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';

/**
 * Fast inference for a frozen backbone: every convolution followed by batch-norm (and a ReLU /
 * ReLU6 activation) becomes one fused conv + bias + activation kernel, with the batch-norm folded
 * into the filter and bias at load time: w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β.
 * Three memory passes per block become one. Only for frozen layers (the folded weights are a
 * copy) and for plain chains such as MobileNet v1 and VGG; anything else runs the model as is.
 */

const ConvConfigSchema = z.object({
  strides: z.union([z.number(), z.array(z.number())]),
  padding: z.enum(['same', 'valid']),
  // tfjs' getConfig() spells it dilationRate (Keras JSON's dilation_rate is converted on load).
  dilationRate: z.union([z.number(), z.array(z.number())]).optional(),
  activation: z.string().optional(),
});
const BatchNormConfigSchema = z.object({ epsilon: z.number(), center: z.boolean(), scale: z.boolean() });
const ActivationConfigSchema = z.object({ activation: z.string() });
const ReluConfigSchema = z.object({ maxValue: z.number().nullable().optional() });

type FusedActivation = 'linear' | 'relu' | 'relu6';
type Step = (x: tf.Tensor4D) => tf.Tensor4D;

/** A folded forward pass: call inside tf.tidy; `dispose` frees the folded weights. */
export interface FoldedInference {
  run(x: tf.Tensor): tf.Tensor;
  /** Number of conv + batch-norm pairs folded (0 when the model ran as is). */
  folded: number;
  dispose(): void;
}

function pair(value: number | number[] | undefined): [number, number] {
  if (value === undefined) return [1, 1];
  if (typeof value === 'number') return [value, value];
  return [value[0] ?? 1, value[1] ?? value[0] ?? 1];
}

/** True when each layer's only input is the previous layer's output. */
export function isChain(layers: tfl.layers.Layer[]): boolean {
  return layers.every((layer, i) => {
    if (i === 0) return true;
    const nodes = layer.inboundNodes;
    const inbound = nodes.length === 1 ? nodes[0]?.inboundLayers : undefined;
    return inbound?.length === 1 && inbound[0] === layers[i - 1];
  });
}

/** The activation a layer applies, if the fused kernels can apply it instead. */
function fusableActivation(layer: tfl.layers.Layer | undefined): FusedActivation | undefined {
  if (!layer) return undefined;
  const name = layer.getClassName();
  if (name === 'Activation') {
    const { activation } = ActivationConfigSchema.parse(layer.getConfig());
    return activation === 'relu' || activation === 'relu6' || activation === 'linear' ? activation : undefined;
  }
  if (name === 'ReLU') {
    const { maxValue } = ReluConfigSchema.parse(layer.getConfig());
    return maxValue === 6 ? 'relu6' : maxValue === null || maxValue === undefined ? 'relu' : undefined;
  }
  return undefined;
}

/** Folds batch-norm weights into a conv's filter and bias; both results are new tensors. */
function foldWeights(conv: tfl.layers.Layer, bn: tfl.layers.Layer): { filter: tf.Tensor4D; bias: tf.Tensor1D } {
  return tf.tidy(() => {
    const [kernel, convBias] = conv.getWeights();
    if (!kernel || kernel.rank !== 4) throw new Error(`Fold ${conv.name}: expected a rank-4 kernel`);
    const { epsilon, center, scale } = BatchNormConfigSchema.parse(bn.getConfig());
    const bnWeights = [...bn.getWeights()];
    const gamma = scale ? bnWeights.shift() : undefined;
    const beta = center ? bnWeights.shift() : undefined;
    const [mean, variance] = bnWeights;
    if (!mean || !variance) throw new Error(`Fold ${bn.name}: missing moving statistics`);
    const channels = mean.shape[0] ?? 0;
    const factor = tf.div(gamma ?? tf.onesLike(mean), tf.sqrt(tf.add(variance, epsilon)));
    // Conv2D kernels are [kh, kw, in, out]; depthwise kernels [kh, kw, in, multiplier], whose
    // output channel in·multiplier + m is the flattened last two axes.
    const [kh = 1, kw = 1, inChannels = 1, last = 1] = kernel.shape;
    const filter =
      conv.getClassName() === 'DepthwiseConv2D'
        ? tf.reshape(tf.mul(tf.reshape(kernel, [kh, kw, inChannels * last]), tf.reshape(factor, [1, 1, channels])), [kh, kw, inChannels, last])
        : tf.mul(kernel, tf.reshape(factor, [1, 1, 1, channels]));
    const shifted = tf.sub(convBias ?? tf.zerosLike(mean), mean);
    const bias = tf.add(tf.mul(shifted, factor), beta ?? tf.zerosLike(mean));
    return { filter: filter as tf.Tensor4D, bias: bias as tf.Tensor1D };
  });
}

/** Builds the folded pass for `model`, or one that simply runs the model when it cannot be folded. */
export function foldedInference(model: tfl.LayersModel): FoldedInference {
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  const asIs: FoldedInference = {
    run: (x) => {
      const out = model.apply(x, { training: false });
      if (!(out instanceof tf.Tensor)) throw new Error(`${model.name} did not return one tensor`);
      return out;
    },
    folded: 0,
    dispose: () => undefined,
  };
  if (model.inputs.length !== 1 || !isChain(layers)) return asIs;

  const steps: Step[] = [];
  const owned: tf.Tensor[] = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    if (!layer) continue;
    const kind = layer.getClassName();
    const next = layers[i + 1];
    if ((kind === 'Conv2D' || kind === 'DepthwiseConv2D') && next?.getClassName() === 'BatchNormalization') {
      const config = ConvConfigSchema.parse(layer.getConfig());
      if ((config.activation ?? 'linear') !== 'linear') {
        steps.push((x) => layer.apply(x) as tf.Tensor4D);
        continue;
      }
      const fusedActivation = fusableActivation(layers[i + 2]);
      const activation = fusedActivation ?? 'linear';
      const { filter, bias } = foldWeights(layer, next);
      owned.push(filter, bias);
      const strides = pair(config.strides);
      const dilations = pair(config.dilationRate);
      steps.push(
        kind === 'Conv2D'
          ? (x) => tf.fused.conv2d({ x, filter, strides, pad: config.padding, dilations, bias, activation })
          : (x) => tf.fused.depthwiseConv2d({ x, filter, strides, pad: config.padding, dilations, bias, activation }),
      );
      // Skip the batch-norm, and the activation when the kernel applies it.
      i += fusedActivation === undefined ? 1 : 2;
      continue;
    }
    steps.push((x) => layer.apply(x) as tf.Tensor4D);
  }
  return {
    run: (x) => steps.reduce<tf.Tensor4D>((h, step) => step(h), x as tf.Tensor4D),
    folded: owned.length / 2,
    dispose: () => tf.dispose(owned),
  };
}
