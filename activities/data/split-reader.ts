import pLimit from 'p-limit';
import { SplitManifestSchema, type PreprocessParams, type SplitManifest } from '../../common/dataset-manifest.ts';
import { DatasetError } from '../../common/index.ts';
import type { ObjectStore } from '../object-store.ts';
import { sha256Bytes } from './file-hash.ts';
import { decodeNpyUint8 } from './npy.ts';

/**
 * Reading what `subset` wrote, for training and evaluation: split manifests (verified against
 * the hash in their key) and preprocessed images as pixels.
 */

/** Reads a split manifest; `DatasetError` when missing, altered (hash ≠ key) or malformed. */
export async function loadSplitManifest(store: ObjectStore, key: string): Promise<SplitManifest> {
  if (!(await store.exists(key))) throw new DatasetError(`Split manifest not found: s3://${store.bucket}/${key}`);
  const bytes = await store.get(key);
  const expected = /\/splits\/([0-9a-f]{64})\.json$/.exec(key)?.[1];
  if (expected !== undefined && sha256Bytes(bytes) !== expected) {
    throw new DatasetError(`Split manifest s3://${store.bucket}/${key} does not match the sha256 in its key`);
  }
  const parsed = SplitManifestSchema.safeParse(JSON.parse(bytes.toString('utf8')));
  if (!parsed.success) throw new DatasetError(`Split manifest s3://${store.bucket}/${key} is malformed: ${parsed.error.message}`);
  return parsed.data;
}

/**
 * Reads one shard of preprocessed images: a uint8 `.npy` of shape (rows, height, width), one gray
 * channel (see `preprocessImage`). `DatasetError` when it is not one or holds another size.
 */
export function decodeShard(bytes: Uint8Array, params: PreprocessParams, where: string): { rows: number; pixels: Uint8Array } {
  let array: ReturnType<typeof decodeNpyUint8>;
  try {
    array = decodeNpyUint8(bytes);
  } catch (error) {
    throw new DatasetError(`Preprocessed shard ${where} is unreadable: ${error instanceof Error ? error.message : String(error)}`);
  }
  const [rows = 0, height, width] = array.shape;
  if (array.shape.length !== 3 || height !== params.height || width !== params.width) {
    throw new DatasetError(`Preprocessed shard ${where} has shape (${array.shape.join(', ')}), expected (rows, ${params.height}, ${params.width})`);
  }
  return { rows, pixels: array.data };
}

/**
 * A whole split in memory: `pixels` holds `count` images of `height × width × channels` bytes.
 * Preprocessed images are gray, so `channels` is 1; batch sources replicate it for RGB backbones.
 */
export interface SplitPixels {
  count: number;
  height: number;
  width: number;
  channels: number;
  pixels: Uint8Array;
  /** Label index of each image, in manifest order. */
  labels: Int32Array;
}

/**
 * Fetches every image of a split into one buffer, in manifest order, reading each shard once.
 * Meant for subsets that fit in memory (the full run: ~4,700 images × 50 KB at 224 px = 235 MB).
 */
export async function loadSplitPixels(store: ObjectStore, manifest: SplitManifest, concurrency = 4): Promise<SplitPixels> {
  const { width, height } = manifest.preprocessing;
  const imageBytes = width * height;
  const pixels = new Uint8Array(manifest.images.length * imageBytes);
  const labels = Int32Array.from(manifest.images.map((image) => image.label));
  const byShard = new Map<string, number[]>();
  manifest.images.forEach((image, index) => {
    const indices = byShard.get(image.key);
    if (indices) indices.push(index);
    else byShard.set(image.key, [index]);
  });
  const limit = pLimit(concurrency);
  await Promise.all(
    [...byShard].map(([key, indices]) =>
      limit(async () => {
        const shard = decodeShard(await store.get(key), manifest.preprocessing, key);
        for (const index of indices) {
          const row = manifest.images[index]?.row ?? 0;
          if (row >= shard.rows) throw new DatasetError(`Split manifest names row ${row} of ${key}, which holds ${shard.rows} rows`);
          pixels.set(shard.pixels.subarray(row * imageBytes, (row + 1) * imageBytes), index * imageBytes);
        }
      }),
    ),
  );
  return { count: manifest.images.length, height, width, channels: 1, pixels, labels };
}
