import { DATASET_SPLITS, datasetKeys, type DatasetImage, type DatasetSplit, type PreprocessParams } from '../../common/dataset-manifest.ts';
import { sha256Bytes } from './file-hash.ts';

/** Images per shard: 256 × 224 × 224 bytes = 12.8 MB, small enough to build in memory. */
export const SHARD_IMAGES = 256;

/** A shard to hold: its key and the images of its rows, in order. */
export interface ShardPlan {
  key: string;
  images: readonly DatasetImage[];
}

/**
 * Cuts a split's images (in manifest order) into shards named by their members and the
 * preprocessing: the same images under the same parameters are the same shard, whichever
 * subset drew them, so a stored shard is never built twice.
 */
export function planShards(images: readonly DatasetImage[], params: PreprocessParams): ShardPlan[] {
  const shards: ShardPlan[] = [];
  for (let start = 0; start < images.length; start += SHARD_IMAGES) {
    const members = images.slice(start, start + SHARD_IMAGES);
    shards.push({ key: datasetKeys.shard(sha256Bytes(members.map((image) => image.sha256).join('\n')), params), images: members });
  }
  return shards;
}

/** Each split's shards, and every distinct shard once (two splits can name the same one). */
export function planSplitShards(
  splits: Record<DatasetSplit, readonly DatasetImage[]>,
  params: PreprocessParams,
): { bySplit: Record<DatasetSplit, ShardPlan[]>; unique: ShardPlan[] } {
  const bySplit = { train: planShards(splits.train, params), val: planShards(splits.val, params), test: planShards(splits.test, params) };
  const unique = new Map(DATASET_SPLITS.flatMap((split) => bySplit[split]).map((shard) => [shard.key, shard]));
  return { bySplit, unique: [...unique.values()] };
}
