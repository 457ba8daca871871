import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SplitManifest } from '../../common/dataset-manifest.ts';
import { DatasetError } from '../../common/errors.ts';
import { encodeNpyUint8 } from '../data/npy.ts';
import { loadSplitPixels } from '../data/split-reader.ts';
import type { ObjectStore } from '../object-store.ts';

/**
 * A split manifest of `subset` staged as a folder a Python user reads with numpy alone:
 *
 *   images.npy     uint8, shape (n, height, width): the preprocessed gray images, in manifest order
 *                  (`numpy.load`); RGB backbones repeat the one channel themselves
 *   labels.npy     uint8, shape (n,): each image's label, the index of its class in classes.txt
 *   classes.txt    one class name per line, line i being label i
 *   images.csv     header `index,label,class,sha256,path`: one row per image, index = row of images.npy
 *   manifest.json  the split manifest itself (dataset hash, preprocessing, shard keys)
 */

/** Most classes labels.npy (uint8) can number. */
const MAX_CLASSES = 256;

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Writes a split's images and labels into `folder` (which must not exist yet); returns the images staged. */
export async function stageSplit(store: ObjectStore, manifest: SplitManifest, manifestBytes: Buffer, folder: string): Promise<number> {
  if (manifest.classes.length > MAX_CLASSES) {
    throw new DatasetError(`Cannot stage split with ${manifest.classes.length} classes: labels.npy holds uint8 labels (at most ${MAX_CLASSES} classes)`);
  }
  const split = await loadSplitPixels(store, manifest);
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'images.npy'), encodeNpyUint8(split.pixels, [split.count, split.height, split.width]));
  await writeFile(join(folder, 'labels.npy'), encodeNpyUint8(Uint8Array.from(split.labels), [split.count]));
  await writeFile(join(folder, 'classes.txt'), manifest.classes.map((name) => `${name}\n`).join(''));
  const rows = manifest.images.map((image, index) => [String(index), String(image.label), image.class, image.sha256, image.path].map(csvField).join(','));
  await writeFile(join(folder, 'images.csv'), ['index,label,class,sha256,path', ...rows].map((row) => `${row}\n`).join(''));
  await writeFile(join(folder, 'manifest.json'), manifestBytes);
  return split.count;
}
