import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';

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

const BACKEND = 'wasm';

/** Kernel names this module registers for the wasm backend. */
export const WASM_CONV_GRAD_KERNELS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput'] as const;

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number;
/** The backend handle tfjs passes to kernels (opaque here: only handed on to other kernels). */
type Backend = Parameters<KernelFunc>[0]['backend'];

function shape4(info: TensorInfo, what: string): Shape4 {
  const [a, b, c, d] = info.shape;
  if (info.shape.length !== 4 || a === undefined || b === undefined || c === undefined || d === undefined) {
    throw new Error(`wasm conv gradient: ${what} must be rank 4, got shape [${info.shape.join(',')}]`);
  }
  return [a, b, c, d];
}

function numberPair(value: unknown, what: string): [number, number] {
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number')) {
    return [Number(value[0]), Number(value[1])];
  }
  throw new Error(`wasm conv gradient: unsupported ${what} ${JSON.stringify(value)}`);
}

function shapeAttr(value: unknown, what: string): Shape4 {
  if (Array.isArray(value) && value.length === 4 && value.every((v) => typeof v === 'number')) {
    return [Number(value[0]), Number(value[1]), Number(value[2]), Number(value[3])];
  }
  throw new Error(`wasm conv gradient: ${what} must be a rank-4 shape, got ${JSON.stringify(value)}`);
}

interface ConvAttrs {
  strides: [number, number];
  pad: Pad;
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined;
}

function convAttrs(attrs: NamedAttrMap | undefined, kernel: string): ConvAttrs {
  const a = attrs ?? {};
  const dataFormat = a['dataFormat'];
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${kernel} on wasm: only NHWC is supported, got dataFormat ${String(dataFormat)}`);
  }
  const dilations = a['dilations'] === undefined ? [1, 1] : numberPair(a['dilations'], 'dilations');
  if (dilations[0] !== 1 || dilations[1] !== 1) {
    throw new Error(`${kernel} on wasm: only dilation 1 is supported, got [${dilations.join(',')}]`);
  }
  const rawPad = a['pad'];
  let pad: Pad;
  if (rawPad === 'same') pad = 'same';
  else if (rawPad === 'valid') pad = 'valid';
  else if (typeof rawPad === 'number') pad = rawPad;
  else throw new Error(`${kernel} on wasm: unsupported pad ${JSON.stringify(rawPad)}`);
  const rounding = a['dimRoundingMode'];
  let dimRoundingMode: ConvAttrs['dimRoundingMode'];
  if (rounding === 'floor') dimRoundingMode = 'floor';
  else if (rounding === 'round') dimRoundingMode = 'round';
  else if (rounding === 'ceil') dimRoundingMode = 'ceil';
  return { strides: numberPair(a['strides'], 'strides'), pad, dimRoundingMode };
}

function input(inputs: NamedTensorInfoMap, name: string, kernel: string): TensorInfo {
  const info = inputs[name];
  if (!info) throw new Error(`${kernel} on wasm: missing input ${name}`);
  return info;
}

/**
 * A tracked tensor holding a copy of a kernel input, so tidy may dispose it without touching
 * the caller's data.
 */
function own(backend: Backend, info: TensorInfo): tf.Tensor {
  const identity = tf.getKernel('Identity', BACKEND);
  if (!identity) throw new Error('wasm backend has no Identity kernel');
  const copy = identity.kernelFunc({ inputs: { x: info }, backend });
  if (Array.isArray(copy)) throw new Error('wasm Identity returned several outputs');
  return tf.engine().makeTensorFromTensorInfo(copy);
}

/** Pads (positive amounts) or crops (negative amounts) the two spatial axes of an NHWC tensor. */
function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const padded = tf.pad(x, [
    [0, 0],
    [Math.max(0, top), Math.max(0, bottom)],
    [Math.max(0, left), Math.max(0, right)],
    [0, 0],
  ]);
  const [n, h, w, c] = padded.shape;
  const t0 = Math.max(0, -top);
  const l0 = Math.max(0, -left);
  return tf.slice4d(padded, [0, t0, l0, 0], [n, h - t0 - Math.max(0, -bottom), w - l0 - Math.max(0, -right), c]);
}

/** Inserts (stride − 1) zeros between the rows and columns of an NHWC tensor. */
function dilate(x: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return x;
  const [n, h, w, c] = x.shape;
  const spread = tf.pad(tf.reshape(x, [n, h, 1, w, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.slice4d(tf.reshape(spread, [n, h * sh, w * sw, c]), [0, 0, 0, 0], [n, (h - 1) * sh + 1, (w - 1) * sw + 1, c]);
}

/** Runs `compute` in a tidy scope and hands its result's data to the kernel caller, untracked. */
function untrackedResult(backend: Backend, compute: () => tf.Tensor): TensorInfo {
  const transpose = tf.getKernel('Identity', BACKEND);
  if (!transpose) throw new Error('wasm backend has no Identity kernel');
  let result: TensorInfo | undefined;
  tf.tidy(() => {
    const out = compute();
    const copy = transpose.kernelFunc({ inputs: { x: out }, backend });
    if (Array.isArray(copy)) throw new Error('wasm Identity returned several outputs');
    result = copy;
  });
  if (!result) throw new Error('wasm conv gradient produced no output');
  return result;
}

function backpropFilter({ inputs, backend, attrs }: { inputs: NamedTensorInfoMap; backend: Backend; attrs?: NamedAttrMap }): TensorInfo {
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

function backpropInput({ inputs, backend, attrs }: { inputs: NamedTensorInfoMap; backend: Backend; attrs?: NamedAttrMap }): TensorInfo {
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
