import { preprocessParamsId, type SplitManifest } from '../../common/dataset-manifest.ts';
import { PipelineSpecError } from '../../common/errors.ts';
import type { ModelSpec } from '../../common/model-spec.ts';
import { loadSplitManifest, loadSplitPixels } from '../data/split-reader.ts';
import type { ObjectStore } from '../object-store.ts';
import type { AugmentationParams } from './augmentation.ts';
import type { BatchSource } from '../data/batch-source.ts';
import { pixelSource } from './pixel-source.ts';

/** A train step's data: its splits as batch sources, and what the outputs record about them. */
export interface TrainData {
  /** Class names in label order (the manifests'). */
  classes: string[];
  /** Training images per class, in `classes` order (for `classWeights: balanced`). */
  classCounts: number[];
  train: BatchSource;
  /** Absent when the validation split is empty. */
  validation?: BatchSource;
  trainImages: number;
  valImages: number;
}

function sameClasses(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}

/** Refuses splits the model cannot take: other image size, or classes that differ between splits. */
function checkSplits(train: SplitManifest, val: SplitManifest, keys: { train: string; val: string }, model: ModelSpec): void {
  if (!sameClasses(train.classes, val.classes)) {
    throw new PipelineSpecError(`Load training data failed: ${keys.train} has classes [${train.classes.join(', ')}] but ${keys.val} has [${val.classes.join(', ')}]`);
  }
  for (const [key, manifest] of [[keys.train, train], [keys.val, val]] as const) {
    const { width, height } = manifest.preprocessing;
    if (width !== model.inputSize || height !== model.inputSize) {
      throw new PipelineSpecError(
        `Load training data failed: ${key} holds ${width}x${height} images but model.inputSize is ${model.inputSize}; subset with imageSize: ${model.inputSize}`,
      );
    }
  }
  if (train.images.length === 0) throw new PipelineSpecError(`Load training data failed: ${keys.train} has no images`);
}

/** What determines each image's pixels: its content hash under the split's preprocessing. */
function imageIds(manifest: SplitManifest): string[] {
  const preprocessing = preprocessParamsId(manifest.preprocessing);
  return manifest.images.map((image) => `${preprocessing}/${image.sha256}`);
}

/**
 * Reads the train and validation splits (verified manifests, decoded pixels) into memory and
 * wraps them as batch sources preprocessed as the model spec says. Validation is never shuffled nor augmented.
 * Sequential loads keep only one split's PNGs in flight at a time.
 */
export async function loadTrainData(
  store: ObjectStore,
  keys: { train: string; val: string },
  options: { model: ModelSpec; batchSize: number; augmentation?: AugmentationParams },
): Promise<TrainData> {
  const [train, val] = await Promise.all([loadSplitManifest(store, keys.train), loadSplitManifest(store, keys.val)]);
  checkSplits(train, val, keys, options.model);
  const [trainPixels, valPixels] = [await loadSplitPixels(store, train), await loadSplitPixels(store, val)];
  const common = { batchSize: options.batchSize, classes: train.classes.length, preprocessing: options.model.preprocessing };
  return {
    classes: train.classes,
    classCounts: train.classes.map((name) => train.classCounts[name] ?? 0),
    train: pixelSource(trainPixels, { ...common, imageIds: imageIds(train), ...(options.augmentation ? { augmentation: options.augmentation } : {}) }),
    ...(valPixels.count > 0 ? { validation: pixelSource(valPixels, { ...common, imageIds: imageIds(val), shuffle: false }) } : {}),
    trainImages: trainPixels.count,
    valImages: valPixels.count,
  };
}
