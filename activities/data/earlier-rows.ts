import pLimit from 'p-limit';
import { SplitManifestSchema, preprocessParamsId, type DatasetImage, type PreprocessParams } from '../../common/dataset-manifest.ts';
import type { ObjectStore } from '../object-store.ts';
import { decodeShard } from './split-reader.ts';

/** Where an already preprocessed image can be read: a shard and a row. */
interface StoredRow {
  key: string;
  row: number;
}

/** Preprocessed pixels of an image that an earlier shard holds; undefined when none does (or it cannot be read). */
export type EarlierRows = (image: DatasetImage) => Promise<Uint8Array | undefined>;

/**
 * Rows this dataset already has under these preprocessing parameters, read from its earlier
 * split manifests: how a second subset (the notebook's full run after the partial one) reuses
 * images the first one preprocessed, although its shards hold other sets of images.
 */
async function storedRows(store: ObjectStore, datasetHash: string, params: PreprocessParams): Promise<Map<string, StoredRow>> {
  const rows = new Map<string, StoredRow>();
  const paramsId = preprocessParamsId(params);
  const limit = pLimit(8);
  const manifests = await Promise.all(
    (await store.list(`datasets/${datasetHash}/splits/`)).map((key) => limit(async () => SplitManifestSchema.safeParse(await store.getJson(key).catch(() => undefined)))),
  );
  for (const parsed of manifests) {
    if (!parsed.success || preprocessParamsId(parsed.data.preprocessing) !== paramsId) continue;
    for (const image of parsed.data.images) rows.set(image.sha256, { key: image.key, row: image.row });
  }
  return rows;
}

/**
 * Reads rows of earlier shards. A shard is read whole, once, and kept only while this step
 * runs; one that is missing or damaged is skipped (its images are preprocessed again).
 */
export async function earlierRows(store: ObjectStore, datasetHash: string, params: PreprocessParams): Promise<EarlierRows> {
  const rows = await storedRows(store, datasetHash, params);
  const shards = new Map<string, Promise<Uint8Array>>();
  const shardPixels = (key: string): Promise<Uint8Array> => {
    let pending = shards.get(key);
    if (!pending) {
      pending = store.get(key).then((bytes) => decodeShard(bytes, params, key).pixels);
      shards.set(key, pending);
    }
    return pending;
  };
  const bytes = params.width * params.height;
  return async (image) => {
    const stored = rows.get(image.sha256);
    if (!stored) return undefined;
    const pixels = await shardPixels(stored.key).catch(() => undefined);
    return pixels && pixels.length >= (stored.row + 1) * bytes ? pixels.subarray(stored.row * bytes, (stored.row + 1) * bytes) : undefined;
  };
}

/** No earlier rows: every shard is already stored, so nothing will be preprocessed. */
export const noEarlierRows: EarlierRows = async () => undefined;
