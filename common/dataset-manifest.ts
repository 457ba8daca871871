import { z } from 'zod';
import { canonicalJson } from './canonical-json.ts';

/**
 * Dataset and split manifests: what `download` writes and `subset` and training read.
 *
 * Object layout (all under the worker's bucket):
 * - `datasets/blobs/<sha256>`: original image bytes, content-addressed and shared by every dataset
 *   that contains the same file, so a re-import uploads nothing new.
 * - `datasets/<datasetHash>/manifest.json`: the dataset manifest; `datasetHash` is the sha256 of
 *   its canonical bytes, i.e. the dataset's identity. Written last, in one PUT.
 * - `datasets/preprocessed/<paramsId>/shards/<shardHash>.npy`: up to 256 images after
 *   preprocessing (grayscale, resized), one uint8 array of shape (rows, height, width) that
 *   `numpy.load` reads. Named by the parameters and the sha256s of the images it holds, so the
 *   same split under the same parameters (a retrain, a re-run) finds it; another subset reuses
 *   rows of earlier shards through the earlier split manifests that name them. One object per
 *   256 images instead of per image: a third fewer requests in `subset`, and training loads a
 *   split in a few GETs.
 * - `datasets/<datasetHash>/splits/<splitHash>.json`: one split (train, val or test) of a subset.
 * - `datasets/<datasetHash>/subsets/<subsetHash>.json`: the subset record naming its three
 *   splits; written after them, so its presence means the subset is complete.
 */

export const DATASET_SPLITS = ['train', 'val', 'test'] as const;
export type DatasetSplit = (typeof DATASET_SPLITS)[number];

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'expected a lowercase hex sha256');

export const DatasetImageSchema = z.strictObject({
  /** Path inside the dataset root, with `/` separators, e.g. `train/NORMAL/IM-0115-0001.jpeg`. */
  path: z.string().min(1),
  split: z.enum(DATASET_SPLITS),
  class: z.string().min(1),
  sha256: sha256Schema,
  bytes: z.number().int().nonnegative(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
export type DatasetImage = z.infer<typeof DatasetImageSchema>;

export const DatasetManifestSchema = z.strictObject({
  version: z.literal(1),
  /** Class names, sorted; a class's label index is its position here. */
  classes: z.array(z.string().min(1)).min(2),
  /** Sorted by split, class, then path. */
  images: z.array(DatasetImageSchema),
});
export type DatasetManifest = z.infer<typeof DatasetManifestSchema>;

export const PreprocessParamsSchema = z.strictObject({
  width: z.number().int().positive().max(4096),
  height: z.number().int().positive().max(4096),
  /**
   * 1 = grayscale; 3 = grayscale replicated to three identical channels (RGB backbones). Stored
   * as one channel either way; readers replicate.
   */
  channels: z.union([z.literal(1), z.literal(3)]),
  /** How the aspect ratio is handled: `fill` stretches (as the widely used 224-px copies do). */
  fit: z.enum(['fill', 'cover', 'contain']),
});
export type PreprocessParams = z.infer<typeof PreprocessParamsSchema>;

export const SplitImageSchema = z.strictObject({
  sha256: sha256Schema,
  path: z.string().min(1),
  class: z.string().min(1),
  /** Index of `class` in the manifest's `classes`. */
  label: z.number().int().nonnegative(),
  /** Object key of the shard holding the preprocessed image (uint8 `.npy`, shape (rows, height, width)). */
  key: z.string().min(1),
  /** The image's row in that shard. */
  row: z.number().int().nonnegative(),
});
export type SplitImage = z.infer<typeof SplitImageSchema>;

export const SplitManifestSchema = z.strictObject({
  /** 2: images live in shards (`key` + `row`); version 1 named one object per image. */
  version: z.literal(2),
  datasetHash: sha256Schema,
  split: z.enum(DATASET_SPLITS),
  classes: z.array(z.string().min(1)),
  preprocessing: PreprocessParamsSchema,
  classCounts: z.record(z.string(), z.number().int().nonnegative()),
  /** Sorted by sha256: order carries no information; training shuffles with its own seed. */
  images: z.array(SplitImageSchema),
});
export type SplitManifest = z.infer<typeof SplitManifestSchema>;

/**
 * Readable, stable id of what a preprocessed image holds, used in object keys. `channels` is not
 * part of it: the stored image is one gray channel either way, so both settings share objects.
 * `v2`: one-channel `.npy` (v1 stored PNGs).
 */
export function preprocessParamsId(params: PreprocessParams): string {
  return `w${params.width}-h${params.height}-${params.fit}-gray-v2`;
}

export const datasetKeys = {
  blob: (sha256: string): string => `datasets/blobs/${sha256}`,
  manifest: (datasetHash: string): string => `datasets/${datasetHash}/manifest.json`,
  /** A shard of preprocessed images, named by the sha256 of its members' sha256s (`shardHash`). */
  shard: (shardHash: string, params: PreprocessParams): string => `datasets/preprocessed/${preprocessParamsId(params)}/shards/${shardHash}.npy`,
  split: (datasetHash: string, splitHash: string): string => `datasets/${datasetHash}/splits/${splitHash}.json`,
  subset: (datasetHash: string, subsetHash: string): string => `datasets/${datasetHash}/subsets/${subsetHash}.json`,
};

/** Bytes a manifest is stored as: canonical JSON plus a newline, so its sha256 is its identity. */
export function manifestText(value: unknown): string {
  return `${canonicalJson(value)}\n`;
}
