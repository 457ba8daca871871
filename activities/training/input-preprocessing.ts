import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { PREPROCESSING_MODES, type Preprocessing } from '../../common/model-spec.ts';

/** ImageNet channel means in BGR order, as Keras' caffe-mode `preprocess_input` subtracts them. */
export const IMAGENET_MEAN_BGR = [103.939, 116.779, 123.68] as const;

/**
 * One mode as arithmetic on a pixel x (0…255) of output channel c: x / divisor + offsets[c],
 * after the channels are reversed when `bgr` (RGB → BGR, caffe). Training (tensors) and
 * evaluation (plain arrays) both derive their numbers from here, so they cannot drift apart.
 */
export interface ChannelArithmetic {
  divisor: number;
  offsets: readonly [number, number, number];
  bgr: boolean;
}

export const PREPROCESSING_ARITHMETIC: Record<Preprocessing, ChannelArithmetic> = {
  caffe: { divisor: 1, offsets: [-IMAGENET_MEAN_BGR[0], -IMAGENET_MEAN_BGR[1], -IMAGENET_MEAN_BGR[2]], bgr: true },
  unit: { divisor: 255, offsets: [0, 0, 0], bgr: false },
  symmetric: { divisor: 127.5, offsets: [-1, -1, -1], bgr: false },
};

/**
 * A batch of uint8 NHWC images (1 or 3 channels) as the model takes it: three channels,
 * preprocessed by `mode`. Gray images are replicated to RGB first, so the BGR flip changes
 * nothing for them but the per-channel means still apply.
 */
export function preprocessBatch(raw: tf.Tensor4D, mode: Preprocessing): tf.Tensor4D {
  const { divisor, offsets, bgr } = PREPROCESSING_ARITHMETIC[mode];
  return tf.tidy(() => {
    const channels = raw.shape[3];
    let x: tf.Tensor4D = tf.cast(raw, 'float32');
    if (channels === 1) x = tf.tile(x, [1, 1, 1, 3]);
    else if (channels !== 3) throw new Error(`Preprocess failed: images have ${channels} channels; expected 1 (gray) or 3 (RGB)`);
    if (bgr) x = tf.reverse(x, 3);
    if (divisor !== 1) x = tf.div(x, divisor);
    const [first, second, third] = offsets;
    if (first === second && second === third) return first === 0 ? x : tf.add(x, first);
    return tf.add(x, tf.tensor1d([first, second, third], 'float32'));
  });
}

/**
 * Gray pixels (one channel, as subsets store them) replicated to `channels` and preprocessed by
 * `mode`, with the float32 rounding of `preprocessBatch` step by step, so evaluation feeds a
 * model the same values its training batches had.
 */
export function preprocessGray(gray: Uint8Array, channels: number, mode: Preprocessing): Float32Array {
  const { divisor, offsets } = PREPROCESSING_ARITHMETIC[mode];
  if (channels !== 3 && offsets.some((offset) => offset !== offsets[0])) {
    throw new Error(`Preprocess failed: ${mode} preprocessing has one mean per RGB channel, but the model takes ${channels} channels`);
  }
  const pixels = new Float32Array(gray.length * channels);
  const channelOffsets = Array.from({ length: channels }, (_, c) => Math.fround(offsets[c] ?? offsets[0]));
  for (let i = 0; i < gray.length; i++) {
    const scaled = Math.fround((gray[i] ?? 0) / divisor);
    for (let c = 0; c < channels; c++) pixels[i * channels + c] = scaled + (channelOffsets[c] ?? 0);
  }
  return pixels;
}

const RecordedPreprocessingSchema = z
  .object({
    preprocessing: z.enum(PREPROCESSING_MODES).optional(),
    // Written by models trained before `preprocessing` existed.
    inputScaling: z.enum(['unit', 'symmetric']).optional(),
  })
  .loose();

/** What a model.json records about its preprocessing: a mode, nothing, or a value that is no mode. */
export type RecordedPreprocessing = Preprocessing | 'unrecorded' | 'invalid';

/**
 * The preprocessing a model was trained with, from its model.json `userDefinedMetadata`:
 * `preprocessing`, or for models trained before it existed `inputScaling` (the same names).
 * Callers fail on `invalid` rather than guess, since other pixels silently skew every output.
 */
export function preprocessingOfMetadata(userDefinedMetadata: unknown): RecordedPreprocessing {
  if (userDefinedMetadata === undefined || userDefinedMetadata === null) return 'unrecorded';
  const parsed = RecordedPreprocessingSchema.safeParse(userDefinedMetadata);
  if (!parsed.success) return 'invalid';
  return parsed.data.preprocessing ?? parsed.data.inputScaling ?? 'unrecorded';
}
