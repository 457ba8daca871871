import { readFile } from 'node:fs/promises';
import pLimit from 'p-limit';
import {
  DATASET_SPLITS,
  manifestText,
  datasetKeys,
  type DatasetImage,
  type DatasetManifest,
} from '../../common/dataset-manifest.ts';
import { DatasetError } from '../../common/index.ts';
import type { ObjectStore } from '../object-store.ts';
import { scanDatasetLayout } from './dataset-layout.ts';
import { sha256Bytes } from './file-hash.ts';
import { checkImage, contentTypeOf } from './image-check.ts';
import { HEAD_EACH_UP_TO } from './stored-keys.ts';
import type { DataLogger } from './logger.ts';

/** A file left out of the manifest, and why: reported, never dropped silently. */
export interface SkippedFile {
  path: string;
  reason: string;
}

export interface ImportProgress {
  imagesDone: number;
  imagesTotal: number;
}

export interface ImportDatasetOptions {
  /** Extracted (or local) folder holding the dataset, possibly below wrapper folders. */
  dir: string;
  /** Where the data came from, for messages. */
  source: string;
  store: ObjectStore;
  log: DataLogger;
  onProgress?: (progress: ImportProgress) => void;
  /** Files read, checked and uploaded at once (I/O-bound: more than the cores). @default 8 */
  concurrency?: number;
  /** Where to write the import report (skipped files, counts), just before the manifest. */
  reportKey?: string;
}

export interface ImportDatasetResult {
  datasetHash: string;
  manifestKey: string;
  manifest: DatasetManifest;
  skipped: SkippedFile[];
  /** Blobs uploaded by this import; 0 on a re-import. */
  uploaded: number;
  /** Blobs that were already in the store. */
  reused: number;
}

const BLOB_PREFIX = 'datasets/blobs/';
const SPLIT_ORDER = new Map(DATASET_SPLITS.map((split, index) => [split, index]));

/**
 * Checks every file of a `{split}/{CLASS}/` dataset, uploads the images to content-addressed
 * blobs, and writes the manifest last, in one PUT: a manifest in the store therefore always
 * refers to blobs that are all there. Unreadable files are skipped and returned in `skipped`.
 */
export async function importDataset(options: ImportDatasetOptions): Promise<ImportDatasetResult> {
  const { dir, source, store, log, onProgress, concurrency = 8, reportKey } = options;
  const layout = await scanDatasetLayout(dir, source);
  const skipped: SkippedFile[] = layout.misplaced.map((path) => ({ path, reason: 'not directly in a split/CLASS folder' }));

  await store.ensureBucket();
  // Many files: one listing instead of a HEAD per image (1 request per 1,000 keys). A few: a HEAD
  // each, since the listing grows with every blob ever stored (see HEAD_EACH_UP_TO).
  const present = layout.files.length > HEAD_EACH_UP_TO ? new Set(await store.list(BLOB_PREFIX)) : undefined;
  const inFlight = new Set<string>();
  let uploaded = 0;
  let reused = 0;
  let imagesDone = 0;
  const imagesTotal = layout.files.length;
  const limit = pLimit(concurrency);

  const results = await Promise.all(
    layout.files.map((file) =>
      limit(async (): Promise<DatasetImage | undefined> => {
        const bytes = await readFile(file.absolutePath);
        const check = await checkImage(bytes);
        let image: DatasetImage | undefined;
        if (!check.ok) {
          skipped.push({ path: file.path, reason: check.reason });
          log.warn('Skipping unreadable file', { path: file.path, reason: check.reason });
        } else {
          const sha256 = sha256Bytes(bytes);
          const key = datasetKeys.blob(sha256);
          // Claimed before the first await, so two files with the same bytes upload once.
          const claimed = !inFlight.has(key);
          inFlight.add(key);
          if (!claimed || (present ? present.has(key) : await store.exists(key))) {
            reused += 1;
          } else {
            await store.put(key, bytes, contentTypeOf(check.format));
            uploaded += 1;
          }
          image = {
            path: file.path,
            split: file.split,
            class: file.class,
            sha256,
            bytes: bytes.length,
            width: check.width,
            height: check.height,
          };
        }
        imagesDone += 1;
        onProgress?.({ imagesDone, imagesTotal });
        return image;
      }),
    ),
  );
  const images = results.filter((image): image is DatasetImage => image !== undefined);

  for (const folder of layout.folders) {
    if (!images.some((image) => image.split === folder.split && image.class === folder.class)) {
      throw new DatasetError(`Class "${folder.class}" in split "${folder.split}" has no readable images (${source}: ${folder.path})`);
    }
  }
  images.sort(
    (a, b) =>
      (SPLIT_ORDER.get(a.split) ?? 0) - (SPLIT_ORDER.get(b.split) ?? 0) ||
      compare(a.class, b.class) ||
      compare(a.path, b.path),
  );
  skipped.sort((a, b) => compare(a.path, b.path));

  const manifest: DatasetManifest = { version: 1, classes: layout.classes, images };
  const text = manifestText(manifest);
  const datasetHash = sha256Bytes(text);
  const manifestKey = datasetKeys.manifest(datasetHash);
  if (reportKey !== undefined) {
    await store.put(reportKey, manifestText({ source, datasetHash, images: images.length, uploaded, reused, skipped }), 'application/json');
  }
  await store.put(manifestKey, text, 'application/json');
  log.info('Dataset imported', { datasetHash, images: images.length, skipped: skipped.length, uploaded, reused });
  return { datasetHash, manifestKey, manifest, skipped, uploaded, reused };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
