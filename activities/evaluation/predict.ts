import * as tf from '@tensorflow/tfjs-core';
import type { SplitImage, SplitManifest } from '../../common/dataset-manifest.ts';
import { EvaluationError } from '../../common/errors.ts';
import { loadSplitPixels, type SplitPixels } from '../data/split-reader.ts';
import type { ObjectStore } from '../object-store.ts';
import type { Preprocessing } from '../../common/model-spec.ts';
import { preprocessGray } from '../training/input-preprocessing.ts';
import type { BatchPredictor } from '../features/batch-predictor.ts';
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
  /** Shards fetched at once. @default 4 */
  concurrency?: number;
  /** Runs the model (batch-predictor.ts: its backbone through ONNX Runtime). @default the whole model in tfjs */
  predictor?: BatchPredictor;
}

/**
 * Pixels as the model takes them: stored preprocessed images (one gray channel each, see
 * `preprocessImage`) replicated to the model's channels and preprocessed exactly as training
 * did (`preprocessGray`: caffe, unit or symmetric). No augmentation: evaluation sees each test
 * image exactly as stored.
 */
export function modelInput(gray: Uint8Array, channels: number, preprocessing: Preprocessing): Float32Array {
  return preprocessGray(gray, channels, preprocessing);
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

/** Predictions for a split, in manifest order, and the pixels they were made from. */
export interface SplitPredictions {
  predictions: ImagePrediction[];
  /** The split's images as stored (gray, `height × width` bytes each), for sample plots. */
  pixels: SplitPixels;
}

/** Runs the model over every image of a split, in manifest order, in batches. */
export async function predictSplit(store: ObjectStore, trained: TrainedModel, manifest: SplitManifest, options: PredictOptions): Promise<SplitPredictions> {
  const [height, width, channels] = trained.inputShape;
  const { preprocessing } = manifest;
  if (preprocessing.height !== height || preprocessing.width !== width) {
    throw new EvaluationError(`Predict failed: the split holds ${preprocessing.width}x${preprocessing.height} images, the model takes ${width}x${height}x${channels}`);
  }
  const split = await loadSplitPixels(store, manifest, options.concurrency);
  const imageBytes = height * width;
  const predictions: ImagePrediction[] = [];
  const images = manifest.images;
  for (let start = 0; start < images.length; start += options.batchSize) {
    const batch: SplitImage[] = images.slice(start, start + options.batchSize);
    const input = modelInput(split.pixels.subarray(start * imageBytes, (start + batch.length) * imageBytes), channels, trained.preprocessing);
    const x = tf.tensor4d(input, [batch.length, height, width, channels]);
    let output: tf.Tensor;
    try {
      output = options.predictor
        ? await options.predictor.predict(x)
        : tf.tidy(() => {
            const y = trained.model.predict(x);
            if (!(y instanceof tf.Tensor)) throw new EvaluationError('Predict failed: the model has several outputs');
            return y;
          });
    } finally {
      x.dispose();
    }
    const values = await output.data();
    output.dispose();
    const rows = probabilitiesOf(values, trained.outputUnits, batch.length);
    batch.forEach((image, i) => {
      predictions.push({ sha256: image.sha256, path: image.path, key: image.key, class: image.class, label: image.label, probabilities: rows[i] ?? [] });
    });
    await options.onBatch?.(predictions.length, images.length);
  }
  return { predictions, pixels: split };
}
