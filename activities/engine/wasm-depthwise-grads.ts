import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { BACKEND, convAttrs, dilate, input, own, padOrCrop, shape4, shapeAttr, untrackedResult, type KernelArgs } from './wasm-kernel-support.ts';

/**
 * Depthwise-convolution gradient kernels for `@tensorflow/tfjs-backend-wasm` 4.22, which ships
 * neither, so MobileNet's depthwise layers cannot train on it. As with the Conv2D gradients
 * (wasm-conv-grads.ts), each is rewritten as a forward depthwise convolution, which wasm runs
 * through XNNPACK. With C input channels and channel multiplier M, output channel c·M + m reads
 * input channel c through filter W[:, :, c, m]:
 *
 * - filter gradient: dW[kh,kw,c,m] = Σ_{n,oh,ow} Xpad[n, kh+oh·sh, kw+ow·sw, c] · dy[n,oh,ow,c·M+m].
 *   Putting batch and channels side by side on the channel axis makes this one depthwise
 *   convolution of Xpad (as [1, H, W, N·C·M]) with dy (as an [Ho, Wo, N·C·M, 1] filter, dilated
 *   by the stride), whose [kh, kw] outputs are then summed over N. Every multiply is one the
 *   forward pass also does: no cross-channel work is wasted, unlike a Conv2D formulation.
 * - input gradient: the full depthwise convolution of dy (dilated by the stride, padded by
 *   filter−1−pad) with the filter rotated 180°, summed over the M outputs of each input channel.
 *
 * NHWC and dilation 1 only (what tfjs-layers' DepthwiseConv2D uses in MobileNet); anything else
 * throws. Strides, `same` (TF's asymmetric padding included: the extra row/column goes at the
 * bottom/right), `valid` and numeric padding follow `computeConv2DInfo`, as the forward kernel does.
 */

/** Kernel names this module registers for the wasm backend. */
export const WASM_DEPTHWISE_GRAD_KERNELS = ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'] as const;

/** Repeats each channel of an NHWC tensor M times in place: channel c becomes c·M … c·M + M − 1. */
function repeatChannels(x: tf.Tensor4D, multiplier: number): tf.Tensor4D {
  if (multiplier === 1) return x;
  const [n, h, w, c] = x.shape;
  return tf.reshape<tf.Rank.R4>(tf.tile(tf.reshape(x, [n, h, w, c, 1]), [1, 1, 1, 1, multiplier]), [n, h, w, c * multiplier]);
}

function backpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const kernel = 'DepthwiseConv2dNativeBackpropFilter';
  const x = input(inputs, 'x', kernel);
  const dy = input(inputs, 'dy', kernel);
  const { strides, pad, dimRoundingMode } = convAttrs(attrs, kernel);
  const filterShape = shapeAttr(attrs?.['filterShape'], 'filterShape');
  const xShape = shape4(x, 'x');
  const [n, h, w, c] = xShape;
  const channels = shape4(dy, 'dy')[3];
  const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad, dimRoundingMode, true);
  const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo, filterHeight: fh, filterWidth: fw } = info;
  const multiplier = filterShape[3];
  if (channels !== c * multiplier) throw new Error(`${kernel} on wasm: dy has ${channels} channels, expected ${c}·${multiplier}`);
  return untrackedResult(backend, () => {
    // The window positions the forward pass actually visited span hn × wn input pixels.
    const hn = (ho - 1) * sh + fh;
    const wn = (wo - 1) * sw + fw;
    const xs = padOrCrop(own(backend, x) as tf.Tensor4D, info.padInfo.top, hn - info.padInfo.top - h, info.padInfo.left, wn - info.padInfo.left - w);
    // [N, hn, wn, C·M] → [1, hn, wn, N·C·M]: one depthwise channel per (example, output channel).
    const image = tf.reshape<tf.Rank.R4>(tf.transpose(repeatChannels(xs, multiplier), [1, 2, 0, 3]), [1, hn, wn, n * channels]);
    const taps = tf.reshape<tf.Rank.R4>(tf.transpose(own(backend, dy) as tf.Tensor4D, [1, 2, 0, 3]), [ho, wo, n * channels, 1]);
    const perExample = tf.depthwiseConv2d(image, taps, 1, 'valid', 'NHWC', [sh, sw]);
    return tf.reshape(tf.sum(tf.reshape(perExample, [fh, fw, n, channels]), 2), [fh, fw, c, multiplier]);
  });
}

function backpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const kernel = 'DepthwiseConv2dNativeBackpropInput';
  const dy = input(inputs, 'dy', kernel);
  const filter = input(inputs, 'filter', kernel);
  const { strides, pad, dimRoundingMode } = convAttrs(attrs, kernel);
  const inputShape = shapeAttr(attrs?.['inputShape'], 'inputShape');
  const filterShape = shape4(filter, 'filter');
  const info = tf.backend_util.computeConv2DInfo(inputShape, filterShape, strides, 1, pad, dimRoundingMode, true);
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const [n, h, w, c] = inputShape;
  const multiplier = filterShape[3];
  return untrackedResult(backend, () => {
    const spread = dilate(own(backend, dy) as tf.Tensor4D, sh, sw);
    const top = fh - 1 - info.padInfo.top;
    const left = fw - 1 - info.padInfo.left;
    const padded = padOrCrop(spread, top, h + fh - 1 - top - spread.shape[1], left, w + fw - 1 - left - spread.shape[2]);
    // Output channel c·M + m flows back to input channel c only: a depthwise convolution over
    // the C·M channels, then the M contributions of each input channel summed.
    const rotated = tf.reshape<tf.Rank.R4>(tf.reverse(own(backend, filter) as tf.Tensor4D, [0, 1]), [fh, fw, c * multiplier, 1]);
    const perOutput = tf.depthwiseConv2d(padded, rotated, 1, 'valid');
    return multiplier === 1 ? perOutput : tf.sum(tf.reshape(perOutput, [n, h, w, c, multiplier]), 4);
  });
}

/**
 * Registers the two kernels for the wasm backend. Idempotent: a second call (another engine
 * selection in the same process) leaves the first registration in place.
 */
export function registerWasmDepthwiseGrads(): void {
  if (tf.getKernel('DepthwiseConv2dNativeBackpropFilter', BACKEND)?.kernelFunc === backpropFilter) return;
  for (const kernelName of WASM_DEPTHWISE_GRAD_KERNELS) {
    if (tf.getKernel(kernelName, BACKEND)) tf.unregisterKernel(kernelName, BACKEND);
  }
  tf.registerKernel({ kernelName: 'DepthwiseConv2dNativeBackpropFilter', backendName: BACKEND, kernelFunc: backpropFilter });
  tf.registerKernel({ kernelName: 'DepthwiseConv2dNativeBackpropInput', backendName: BACKEND, kernelFunc: backpropInput });
}
