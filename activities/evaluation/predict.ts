import * as tf from '@tensorflow/tfjs-core';
import pLimit from 'p-limit';
import type { SplitImage, SplitManifest } from '../../common/dataset-manifest.ts';
import { EvaluationError } from '../../common/errors.ts';
import { decodePreprocessed } from '../data/split-reader.ts';
import type { ObjectStore } from '../object-store.ts';
import type { InputScaling } from '../training/pixel-source.ts';
import type { TrainedModel } from './trained-model.ts';

/** The model's output for one image. */
export interface ImagePrediction {
  sha256: string;
  path: string;
  key: string;
  class: string;
  label: number;
  /** Probability of each class, in class order. */
  probabilities: number[];
}

export interface PredictOptions {
  batchSize: number;
  /** Called after every batch with the images done so far (for heartbeats). */
  onBatch?: (done: number, total: number) => void | Promise<void>;
  /** Images fetched and decoded at once. @default 8 */
  concurrency?: number;
}

/**
 * Pixels as the model takes them: the stored preprocessed image (one gray channel, see
 * `preprocessImage`) replicated to the model's channels and scaled exactly as training scaled it
 * (`unit` x/255, the notebook's `rescale=1./255`; `symmetric` x/127.5 − 1). No augmentation:
 * evaluation sees each test image exactly as stored.
 */
export function decodeImage(
  bytes: Uint8Array,
  [height, width, channels]: readonly [number, number, number],
  where: string,
  scaling: InputScaling = 'unit',
): Float32Array {
  let gray: Uint8Array;
  try {
    gray = decodePreprocessed(bytes, { width, height, channels: channels === 1 ? 1 : 3, fit: 'fill' }, where);
  } catch (error) {
    throw new EvaluationError(`Decode image failed: ${error instanceof Error ? error.message : String(error)}; the model takes ${width}x${height}x${channels}`);
  }
  const pixels = new Float32Array(gray.length * channels);
  const scale = scaling === 'unit' ? (v: number) => v / 255 : (v: number) => v / 127.5 - 1;
  for (let i = 0; i < gray.length; i++) {
    const value = scale(gray[i] ?? 0);
    for (let c = 0; c < channels; c++) pixels[i * channels + c] = value;
  }
  return pixels;
}

/** Class probabilities from a batch of outputs: one sigmoid unit means P(class 1). */
function probabilitiesOf(output: Float32Array | Int32Array | Uint8Array, units: number, count: number): number[][] {
  const rows: number[][] = [];
  for (let n = 0; n < count; n++) {
    if (units === 1) {
      const p = output[n] ?? 0;
      rows.push([1 - p, p]);
    } else {
      rows.push(Array.from(output.subarray(n * units, (n + 1) * units)));
    }
  }
  return rows;
}

/** Runs the model over every image of a split, in manifest order, in batches. */
export async function predictSplit(store: ObjectStore, trained: TrainedModel, manifest: SplitManifest, options: PredictOptions): Promise<ImagePrediction[]> {
  const limit = pLimit(options.concurrency ?? 8);
  const [height, width, channels] = trained.inputShape;
  const results: ImagePrediction[] = [];
  const images = manifest.images;
  for (let start = 0; start < images.length; start += options.batchSize) {
    const batch: SplitImage[] = images.slice(start, start + options.batchSize);
    const pixels = await Promise.all(batch.map((image) => limit(async () => decodeImage(await store.get(image.key), trained.inputShape, image.key, trained.inputScaling))));
    const joined = new Float32Array(batch.length * height * width * channels);
    pixels.forEach((p, i) => joined.set(p, i * p.length));
    const output = tf.tidy(() => {
      const x = tf.tensor4d(joined, [batch.length, height, width, channels]);
      const y = trained.model.predict(x);
      if (!(y instanceof tf.Tensor)) throw new EvaluationError('Predict failed: the model has several outputs');
      return y;
    });
    const values = await output.data();
    output.dispose();
    const rows = probabilitiesOf(values, trained.outputUnits, batch.length);
    batch.forEach((image, i) => {
      results.push({ sha256: image.sha256, path: image.path, key: image.key, class: image.class, label: image.label, probabilities: rows[i] ?? [] });
    });
    await options.onBatch?.(results.length, images.length);
  }
  return results;
}
