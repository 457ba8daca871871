import pLimit from 'p-limit';
import sharp from 'sharp';
import { SplitManifestSchema, type PreprocessParams, type SplitManifest } from '../../common/dataset-manifest.ts';
import { DatasetError } from '../../common/index.ts';
import type { ObjectStore } from '../object-store.ts';
import { sha256Bytes } from './file-hash.ts';

/**
 * Reading what `subset` wrote, for training and evaluation: split manifests (verified against
 * the hash in their key) and preprocessed images as raw pixels.
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
 * Decodes one preprocessed PNG to `height × width × channels` bytes (HWC, uint8). The colour
 * space is forced: sharp would otherwise hand out a one-channel PNG as three channels.
 */
export async function decodePreprocessed(png: Buffer, params: PreprocessParams): Promise<Uint8Array> {
  const { data, info } = await sharp(png)
    .toColourspace(params.channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== params.width || info.height !== params.height || info.channels !== params.channels) {
    throw new DatasetError(
      `Preprocessed image is ${info.width}x${info.height}x${info.channels}, expected ${params.width}x${params.height}x${params.channels}`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A whole split in memory: `pixels` holds `count` images of `height × width × channels` bytes. */
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
 * Fetches and decodes every image of a split into one buffer, in manifest order. Meant for
 * subsets that fit in memory (the partial run: ~1,000 images × 150 KB at 224 px, 3 channels).
 */
export async function loadSplitPixels(store: ObjectStore, manifest: SplitManifest, concurrency = 8): Promise<SplitPixels> {
  const { width, height, channels } = manifest.preprocessing;
  const imageBytes = width * height * channels;
  const pixels = new Uint8Array(manifest.images.length * imageBytes);
  const labels = Int32Array.from(manifest.images.map((image) => image.label));
  const limit = pLimit(concurrency);
  await Promise.all(
    manifest.images.map((image, index) =>
      limit(async () => {
        pixels.set(await decodePreprocessed(await store.get(image.key), manifest.preprocessing), index * imageBytes);
      }),
    ),
  );
  return { count: manifest.images.length, height, width, channels, pixels, labels };
}
