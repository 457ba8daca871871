import pLimit from 'p-limit';
import { datasetKeys, type DatasetImage, type PreprocessParams } from '../../common/dataset-manifest.ts';
import { DatasetError } from '../../common/index.ts';
import type { ObjectStore } from '../object-store.ts';
import type { EarlierRows } from './earlier-rows.ts';
import { encodeNpyUint8 } from './npy.ts';
import { preprocessImage } from './preprocess.ts';
import type { ShardPlan } from './subset-shards.ts';

export interface BuildShardsOptions {
  shards: readonly ShardPlan[];
  store: ObjectStore;
  params: PreprocessParams;
  earlier: EarlierRows;
  /** Images fetched, preprocessed and stored at once. */
  concurrency: number;
  /** Called after each image is in its shard's rows. */
  onImage: () => void;
}

/**
 * Builds missing shards: each image's pixels come from an earlier shard's row when one holds
 * it, else from its blob through `preprocessImage`; a shard is uploaded as one `.npy` once all
 * its rows are in. Returns how many images were preprocessed and how many reused.
 */
export async function buildShards({ shards, store, params, earlier, concurrency, onImage }: BuildShardsOptions): Promise<{ created: number; reused: number }> {
  const { width, height } = params;
  let created = 0;
  let reused = 0;
  const pixelsOf = async (image: DatasetImage): Promise<Uint8Array> => {
    const stored = await earlier(image);
    if (stored) {
      reused += 1;
      return stored;
    }
    const source = await store.get(datasetKeys.blob(image.sha256));
    try {
      const gray = await preprocessImage(source, params);
      created += 1;
      return gray;
    } catch (error) {
      throw new DatasetError(`Cannot preprocess ${image.path} (${image.sha256}): ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  const limit = pLimit(concurrency);
  const uploads: Promise<void>[] = [];
  for (const shard of shards) {
    const rows = new Uint8Array(shard.images.length * width * height);
    await Promise.all(
      shard.images.map((image, row) =>
        limit(async () => {
          rows.set(await pixelsOf(image), row * width * height);
          onImage();
        }),
      ),
    );
    // One upload in flight while the next shard is built; a failure surfaces at the latest below.
    if (uploads.length > 0) await uploads.shift();
    uploads.push(store.put(shard.key, encodeNpyUint8(rows, [shard.images.length, height, width]), 'application/octet-stream'));
  }
  await Promise.all(uploads);
  return { created, reused };
}
