import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { canonicalJson } from '../../common/canonical-json.ts';
import type { Preprocessing } from '../../common/model-spec.ts';
import { createRandom, shuffled } from '../../common/prng.ts';
import { augmentImage, type AugmentationParams } from './augmentation.ts';
import type { SplitPixels } from '../data/split-reader.ts';
import type { Batch, BatchSource } from '../data/batch-source.ts';
import { preprocessBatch, preprocessGray } from './input-preprocessing.ts';

/** Images in memory as the split reader returns them: HWC uint8, one label index per image. */
export type PixelSplit = SplitPixels;

export interface PixelSourceOptions {
  batchSize: number;
  classes: number;
  /** How pixels become model input (see `modelPreprocessing`). */
  preprocessing: Preprocessing;
  /** @default true */
  shuffle?: boolean;
  /** Random affine augmentation of each image, drawn per (seed, epoch, image index); none when absent. */
  augmentation?: AugmentationParams;
  /**
   * Identity of each image's pixels in split order (e.g. `<preprocessing id>/<sha256>`); gives
   * the source `exampleKeys`, which key persisted backbone features.
   */
  imageIds?: readonly string[];
}

/**
 * Key of one example: the image id under its input preprocessing and view (features of one
 * mode are never served for another). An augmented copy depends on the parameters, the seed,
 * the view and the image's index in the split (augmentImage's inputs).
 */
function exampleKey(preprocessing: Preprocessing, imageId: string, augmentation: string | undefined, seed: number, view: number, index: number): string {
  return augmentation === undefined ? `${preprocessing}/plain/${imageId}` : `${preprocessing}/aug-${augmentation}-s${seed}-v${view}/${index}-${imageId}`;
}

/**
 * Batches of a split in memory: float NHWC preprocessed for the backbone (`preprocessBatch`:
 * grayscale replicated to the three channels ImageNet backbones take), one-hot labels; order shuffled per (seed, epoch).
 * With `augmentation`, `epoch` also picks each image's augmented copy (the trainer passes the
 * view index there when it caches frozen-backbone features of a few fixed views).
 */
export function pixelSource(split: PixelSplit, options: PixelSourceOptions): BatchSource {
  const { batchSize, classes, preprocessing, shuffle = true, augmentation, imageIds } = options;
  const imageBytes = split.height * split.width * split.channels;
  const shape = { height: split.height, width: split.width, channels: split.channels };
  if (imageIds && imageIds.length !== split.count) throw new Error(`Pixel source needs one image id per image: ${imageIds.length} ids, ${split.count} images`);
  const orderOf = (epoch: number, seed: number): number[] => {
    const order = Array.from({ length: split.count }, (_, i) => i);
    return shuffle ? shuffled(order, createRandom(seed, 'shuffle', epoch)) : order;
  };
  const augmentationHash = augmentation ? createHash('sha256').update(canonicalJson(augmentation)).digest('hex').slice(0, 16) : undefined;
  return {
    size: split.count,
    ...(imageIds
      ? { exampleKeys: (epoch: number, seed: number) => orderOf(epoch, seed).map((index) => exampleKey(preprocessing, imageIds[index] ?? '', augmentationHash, seed, epoch, index)) }
      : {}),
    *batches(epoch: number, seed: number): Iterable<Batch> {
      const indices = orderOf(epoch, seed);
      for (let start = 0; start < split.count; start += batchSize) {
        const chunk = indices.slice(start, start + batchSize);
        const bytes = new Uint8Array(chunk.length * imageBytes);
        chunk.forEach((index, i) => {
          const image = split.pixels.subarray(index * imageBytes, (index + 1) * imageBytes);
          bytes.set(augmentation ? augmentImage(image, shape, augmentation, { seed, view: epoch, imageIndex: index }) : image, i * imageBytes);
        });
        const x =
          split.channels === 1
            ? // Gray replicated to three channels in one pass over the bytes: tfjs wasm's tile took
              // 228 of a batch's 258 ms (32 images at 224 px), the slowest part of the feature
              // stage. Bit for bit preprocessBatch's values (test/unit/input-preprocessing.test.ts).
              tf.tensor4d(preprocessGray(bytes, 3, preprocessing), [chunk.length, split.height, split.width, 3], 'float32')
            : tf.tidy(() => preprocessBatch(tf.tensor4d(bytes, [chunk.length, split.height, split.width, split.channels], 'int32'), preprocessing));
        const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(chunk.map((index) => split.labels[index] ?? 0), 'int32'), classes), 'float32'));
        yield { x, y };
      }
    },
  };
}
