import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { BACKEND, convAttrs, dilate, input, own, padOrCrop, shape4, shapeAttr, untrackedResult, type KernelArgs } from './wasm-kernel-support.ts';

/**
 * Conv2D gradient kernels for `@tensorflow/tfjs-backend-wasm` 4.22, which ships no
 * `Conv2DBackpropFilter` (so conv nets cannot train on it) and only a slow, naive
 * `Conv2DBackpropInput`. Both are rewritten as forward convolutions, which wasm runs through
 * XNNPACK:
 *
 * - filter gradient: dW[kh,kw,c,co] = Σ_{n,oh,ow} Xpad[n, kh+oh·sh, kw+ow·sw, c] · dy[n,oh,ow,co],
 *   i.e. a convolution of Xpadᵀ [C,H,W,N] with dyᵀ [Ho,Wo,N,Co] dilated by the stride.
 * - input gradient: the full convolution of dy (dilated by the stride, padded by filter−1−pad)
 *   with the filter rotated 180° and its channel axes swapped.
 *
 * NHWC and dilation 1 only (what tfjs-layers' Conv2D uses); anything else throws.
 */

/** Kernel names this module registers for the wasm backend. */
export const WASM_CONV_GRAD_KERNELS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput'] as const;

function backpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const kernel = 'Conv2DBackpropFilter';
  const x = input(inputs, 'x', kernel);
  const dy = input(inputs, 'dy', kernel);
  const { strides, pad, dimRoundingMode } = convAttrs(attrs, kernel);
  const filterShape = shapeAttr(attrs?.['filterShape'], 'filterShape');
  const [, h, w] = shape4(x, 'x');
  shape4(dy, 'dy');
  const info = tf.backend_util.computeConv2DInfo(shape4(x, 'x'), filterShape, strides, 1, pad, dimRoundingMode);
  const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo, filterHeight: fh, filterWidth: fw } = info;
  return untrackedResult(backend, () => {
    // The window positions the forward pass actually visited span hn × wn input pixels.
    const hn = (ho - 1) * sh + fh;
    const wn = (wo - 1) * sw + fw;
    const xs = padOrCrop(own(backend, x) as tf.Tensor4D, info.padInfo.top, hn - info.padInfo.top - h, info.padInfo.left, wn - info.padInfo.left - w);
    const grads = tf.conv2d(
      tf.transpose(xs, [3, 1, 2, 0]),
      tf.transpose(own(backend, dy) as tf.Tensor4D, [1, 2, 0, 3]),
      1,
      'valid',
      'NHWC',
      [sh, sw],
    );
    return tf.transpose(grads, [1, 2, 0, 3]);
  });
}

function backpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const kernel = 'Conv2DBackpropInput';
  const dy = input(inputs, 'dy', kernel);
  const filter = input(inputs, 'filter', kernel);
  const { strides, pad, dimRoundingMode } = convAttrs(attrs, kernel);
  const inputShape = shapeAttr(attrs?.['inputShape'], 'inputShape');
  const info = tf.backend_util.computeConv2DInfo(inputShape, shape4(filter, 'filter'), strides, 1, pad, dimRoundingMode);
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const [, h, w] = inputShape;
  return untrackedResult(backend, () => {
    const spread = dilate(own(backend, dy) as tf.Tensor4D, sh, sw);
    const top = fh - 1 - info.padInfo.top;
    const left = fw - 1 - info.padInfo.left;
    const padded = padOrCrop(spread, top, h + fh - 1 - top - spread.shape[1], left, w + fw - 1 - left - spread.shape[2]);
    const rotated = tf.transpose(tf.reverse(own(backend, filter) as tf.Tensor4D, [0, 1]), [0, 1, 3, 2]);
    return tf.conv2d(padded, rotated, 1, 'valid');
  });
}

/**
 * Registers the two kernels for the wasm backend. Idempotent: a second call (another engine
 * selection in the same process) leaves the first registration in place.
 */
export function registerWasmConvGrads(): void {
  if (tf.getKernel('Conv2DBackpropFilter', BACKEND)?.kernelFunc === backpropFilter) return;
  for (const kernelName of WASM_CONV_GRAD_KERNELS) {
    if (tf.getKernel(kernelName, BACKEND)) tf.unregisterKernel(kernelName, BACKEND);
  }
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: BACKEND, kernelFunc: backpropFilter });
  tf.registerKernel({ kernelName: 'Conv2DBackpropInput', backendName: BACKEND, kernelFunc: backpropInput });
}
