import { z } from 'zod';
import { WeightsReferenceError } from './errors.ts';
import type { BackboneName } from './model-spec.ts';

/**
 * Where a backbone's pretrained weights come from, as a `train` step's `model.weights` and
 * `model.weightsHash` say. Sandbox-safe: the client validates with it, the worker resolves with it.
 *
 * - `keras:<name>`: Keras' own application weights, pinned here to their official URL and md5
 *   (what `keras.applications.VGG19(weights='imagenet', include_top=False)` downloads).
 * - a Keras HDF5 weights file (`.h5`/`.hdf5`): `https://`, `http://`, `file://`, a plain path,
 *   or `s3://<bucket>/<key>`; optionally pinned by `weightsHash` (`sha256:<hex>` or `md5:<hex>`,
 *   Keras publishes md5). Pinned files are fetched once and kept in object storage by content.
 * - anything else: a TF.js layers model (`model.json` and shards, or their folder).
 */

/** A content pin of a weights file. */
export interface WeightsPin {
  algorithm: 'sha256' | 'md5';
  /** Lower-case hex. */
  hex: string;
}

const HEX_LENGTH: Record<WeightsPin['algorithm'], number> = { sha256: 64, md5: 32 };

/** `sha256:<64 hex>` or `md5:<32 hex>` (either case). */
export const WeightsHashSchema = z
  .string()
  .regex(/^(sha256:[0-9a-fA-F]{64}|md5:[0-9a-fA-F]{32})$/, "expected 'sha256:<64 hex digits>' or 'md5:<32 hex digits>'")
  .describe("Pin of a Keras .h5 `weights` file: 'sha256:<64 hex>' or 'md5:<32 hex>' (as Keras publishes); checked before the file is read, which is then fetched once and reused from object storage");

/** Parses a `weightsHash` already validated by `WeightsHashSchema`. */
export function parseWeightsPin(text: string): WeightsPin {
  const [algorithm, hex = ''] = text.split(':');
  if ((algorithm !== 'sha256' && algorithm !== 'md5') || hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-fA-F]+$/.test(hex)) {
    throw new WeightsReferenceError('weightsHash', `invalid weights hash "${text}": expected 'sha256:<64 hex digits>' or 'md5:<32 hex digits>'`);
  }
  return { algorithm, hex: hex.toLowerCase() };
}

export function formatWeightsPin(pin: WeightsPin): string {
  return `${pin.algorithm}:${pin.hex}`;
}

/** Official Keras application weights a backbone of this project can load. */
export interface KerasApplicationWeights {
  backbone: BackboneName;
  url: string;
  pin: WeightsPin;
  bytes: number;
}

/**
 * `keras:<name>` shorthands. Only backbones this project builds itself can take Keras' weight-only
 * files; mobilenet_v1 is loaded with its topology from a TF.js model, so it has no entry.
 */
export const KERAS_APPLICATION_WEIGHTS: Readonly<Record<string, KerasApplicationWeights>> = {
  vgg19: {
    backbone: 'vgg19',
    url: 'https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
    pin: { algorithm: 'md5', hex: '253f8cb515780f3b799900260a226db6' },
    bytes: 80_134_624,
  },
};

const KERAS_PREFIX = 'keras:';

/** What a worker fetches for `model.weights` (+ `weightsHash`). */
export type WeightsReference =
  | { format: 'keras-h5'; location: string; pin?: WeightsPin; bytes?: number; shorthand?: string }
  | { format: 'tfjs-layers'; location: string };

/** True for locations whose path ends in `.h5` or `.hdf5` (query and fragment ignored). */
function isH5Location(location: string): boolean {
  const path = location.replace(/[?#].*$/, '');
  return /\.(h5|hdf5)$/i.test(path);
}

/**
 * Resolves `model.weights` and `model.weightsHash` into what to fetch. Throws with a message
 * naming the field when they cannot go together (validation turns it into a field error).
 */
export function resolveWeightsReference(model: { backbone: BackboneName; weights: string; weightsHash?: string | undefined }): WeightsReference {
  const { backbone, weights, weightsHash } = model;
  if (weights.startsWith(KERAS_PREFIX)) {
    const name = weights.slice(KERAS_PREFIX.length);
    const known = KERAS_APPLICATION_WEIGHTS[name];
    if (!known) {
      throw new WeightsReferenceError('weights', `unknown Keras application weights "${weights}"; known: ${Object.keys(KERAS_APPLICATION_WEIGHTS).map((key) => KERAS_PREFIX + key).join(', ')}`);
    }
    if (known.backbone !== backbone) throw new WeightsReferenceError('weights', `${weights} holds ${known.backbone} weights, but model.backbone is ${backbone}`);
    if (weightsHash !== undefined) throw new WeightsReferenceError('weightsHash', `${weights} is already pinned (${formatWeightsPin(known.pin)}); drop weightsHash`);
    return { format: 'keras-h5', location: known.url, pin: known.pin, bytes: known.bytes, shorthand: weights };
  }
  if (isH5Location(weights)) {
    if (backbone !== 'vgg19') {
      throw new WeightsReferenceError('weights', `${backbone} loads a TF.js layers model (model.json) with its topology; Keras .h5 weights load only into backbones this project builds (vgg19)`);
    }
    return { format: 'keras-h5', location: weights, ...(weightsHash !== undefined ? { pin: parseWeightsPin(weightsHash) } : {}) };
  }
  if (weightsHash !== undefined) {
    throw new WeightsReferenceError('weightsHash', `pins Keras .h5 files only; ${weights} is a TF.js layers model (its shards would not be covered)`);
  }
  return { format: 'tfjs-layers', location: weights };
}

/** Adds a field-named issue when a model's `weights` and `weightsHash` do not make a reference (for `superRefine`). */
export function checkWeightsReference(model: { backbone: BackboneName; weights?: string | undefined; weightsHash?: string | undefined }, ctx: z.RefinementCtx): void {
  if (model.weights === undefined) {
    if (model.weightsHash !== undefined) ctx.addIssue({ code: 'custom', path: ['weightsHash'], message: 'weightsHash pins model.weights, which is not set' });
    return;
  }
  try {
    resolveWeightsReference({ backbone: model.backbone, weights: model.weights, weightsHash: model.weightsHash });
  } catch (error) {
    if (!(error instanceof WeightsReferenceError)) throw error;
    ctx.addIssue({ code: 'custom', path: [error.field], message: error.message });
  }
}
