import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * Shared pieces of the gradient kernels this project registers for the wasm backend
 * (wasm-conv-grads.ts, wasm-depthwise-grads.ts): attribute parsing, tensor plumbing between a
 * kernel's untracked inputs and tidy-scoped ops, and the pad/crop/dilate steps that turn a
 * convolution gradient into a forward convolution.
 */

export const BACKEND = 'wasm';

/** What tfjs passes to a kernel function. */
export interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: Backend;
  attrs?: NamedAttrMap;
}

export type Shape4 = [number, number, number, number];
export type Pad = 'same' | 'valid' | number;
/** The backend handle tfjs passes to kernels (opaque here: only handed on to other kernels). */
export type Backend = Parameters<KernelFunc>[0]['backend'];

export function shape4(info: TensorInfo, what: string): Shape4 {
  const [a, b, c, d] = info.shape;
  if (info.shape.length !== 4 || a === undefined || b === undefined || c === undefined || d === undefined) {
    throw new Error(`wasm conv gradient: ${what} must be rank 4, got shape [${info.shape.join(',')}]`);
  }
  return [a, b, c, d];
}

export function numberPair(value: unknown, what: string): [number, number] {
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number')) {
    return [Number(value[0]), Number(value[1])];
  }
  throw new Error(`wasm conv gradient: unsupported ${what} ${JSON.stringify(value)}`);
}

export function shapeAttr(value: unknown, what: string): Shape4 {
  if (Array.isArray(value) && value.length === 4 && value.every((v) => typeof v === 'number')) {
    return [Number(value[0]), Number(value[1]), Number(value[2]), Number(value[3])];
  }
  throw new Error(`wasm conv gradient: ${what} must be a rank-4 shape, got ${JSON.stringify(value)}`);
}

export interface ConvAttrs {
  strides: [number, number];
  pad: Pad;
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined;
}

export function convAttrs(attrs: NamedAttrMap | undefined, kernel: string): ConvAttrs {
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

export function input(inputs: NamedTensorInfoMap, name: string, kernel: string): TensorInfo {
  const info = inputs[name];
  if (!info) throw new Error(`${kernel} on wasm: missing input ${name}`);
  return info;
}

/**
 * A tracked tensor holding a copy of a kernel input, so tidy may dispose it without touching
 * the caller's data.
 */
export function own(backend: Backend, info: TensorInfo): tf.Tensor {
  const identity = tf.getKernel('Identity', BACKEND);
  if (!identity) throw new Error('wasm backend has no Identity kernel');
  const copy = identity.kernelFunc({ inputs: { x: info }, backend });
  if (Array.isArray(copy)) throw new Error('wasm Identity returned several outputs');
  return tf.engine().makeTensorFromTensorInfo(copy);
}

/** Pads (positive amounts) or crops (negative amounts) the two spatial axes of an NHWC tensor. */
export function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
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
export function dilate(x: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
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
export function untrackedResult(backend: Backend, compute: () => tf.Tensor): TensorInfo {
  const identity = tf.getKernel('Identity', BACKEND);
  if (!identity) throw new Error('wasm backend has no Identity kernel');
  let result: TensorInfo | undefined;
  tf.tidy(() => {
    const out = compute();
    const copy = identity.kernelFunc({ inputs: { x: out }, backend });
    if (Array.isArray(copy)) throw new Error('wasm Identity returned several outputs');
    result = copy;
  });
  if (!result) throw new Error('wasm conv gradient produced no output');
  return result;
}
