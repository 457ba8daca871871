import pLimit from 'p-limit';
import {
  DATASET_SPLITS,
  DatasetManifestSchema,
  SplitManifestSchema,
  type DatasetImage,
  datasetKeys,
  manifestText,
  preprocessParamsId,
  type DatasetManifest,
  type DatasetSplit,
  type PreprocessParams,
  type SplitManifest,
} from '../../common/dataset-manifest.ts';
import { DatasetError } from '../../common/index.ts';
import type { ObjectStore } from '../object-store.ts';
import { sha256Bytes } from './file-hash.ts';
import type { DataLogger } from './logger.ts';
import { encodeNpyUint8 } from './npy.ts';
import { preprocessImage } from './preprocess.ts';
import { decodeShard } from './split-reader.ts';
import { storedKeys } from './stored-keys.ts';
import { planSubset, type SubsetPlanSpec } from './subset-plan.ts';

export interface SubsetSpec extends SubsetPlanSpec {
  /** Key of the dataset manifest written by `download`. */
  datasetManifest: string;
  image: PreprocessParams;
}

export interface SubsetProgress {
  imagesDone: number;
  imagesTotal: number;
}

export interface SplitOutput {
  key: string;
  sha256: string;
  images: number;
  classCounts: Record<string, number>;
}

export interface SubsetResult {
  datasetHash: string;
  /** Key of the subset record, written last: its presence means every split is complete. */
  subsetKey: string;
  subsetHash: string;
  splits: Record<DatasetSplit, SplitOutput>;
  preprocessed: { created: number; reused: number };
  conflictingLabels: number;
  crossSplitDuplicates: number;
}

export interface SubsetOptions {
  spec: SubsetSpec;
  store: ObjectStore;
  log: DataLogger;
  onProgress?: (progress: SubsetProgress) => void;
  /** Images fetched, preprocessed and stored at once (I/O-bound: more than the cores). @default 8 */
  concurrency?: number;
}

/**
 * Reads a dataset manifest and validates it; its sha256 (the dataset's identity) is computed from
 * the bytes read, so a key pointing at edited content yields a different hash.
 */
export async function loadDatasetManifest(
  store: ObjectStore,
  key: string,
): Promise<{ manifest: DatasetManifest; datasetHash: string }> {
  if (!(await store.exists(key))) throw new DatasetError(`Dataset manifest not found: s3://${store.bucket}/${key}`);
  const bytes = await store.get(key);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new DatasetError(`Dataset manifest s3://${store.bucket}/${key} is not JSON: ${String(error)}`);
  }
  const parsed = DatasetManifestSchema.safeParse(json);
  if (!parsed.success) throw new DatasetError(`Dataset manifest s3://${store.bucket}/${key} is malformed: ${parsed.error.message}`);
  return { manifest: parsed.data, datasetHash: sha256Bytes(bytes) };
}

/** Images per shard: 256 × 224 × 224 bytes = 12.8 MB, small enough to build in memory. */
export const SHARD_IMAGES = 256;

/** A shard to hold: its key and the images of its rows, in order. */
interface ShardPlan {
  key: string;
  images: readonly DatasetImage[];
}

/** Where an already preprocessed image can be read: a shard and a row. */
interface StoredRow {
  key: string;
  row: number;
}

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

/** Cuts a split's images (in manifest order) into shards named by their members. */
function planShards(images: readonly DatasetImage[], params: PreprocessParams): ShardPlan[] {
  const shards: ShardPlan[] = [];
  for (let start = 0; start < images.length; start += SHARD_IMAGES) {
    const members = images.slice(start, start + SHARD_IMAGES);
    shards.push({ key: datasetKeys.shard(sha256Bytes(members.map((image) => image.sha256).join('\n')), params), images: members });
  }
  return shards;
}

/**
 * Draws train/val/test from a dataset (see `planSubset`), preprocesses every drawn image once
 * per parameter set into shards (reusing stored shards, and rows of earlier shards), then writes
 * the three split manifests and, last, the subset record. Same spec, same seed → byte-identical
 * manifests.
 */
export async function createSubset({ spec, store, log, onProgress, concurrency = 8 }: SubsetOptions): Promise<SubsetResult> {
  const { manifest, datasetHash } = await loadDatasetManifest(store, spec.datasetManifest);
  const plan = planSubset(manifest, spec);
  const labels = new Map(manifest.classes.map((cls, index) => [cls, index]));
  const { width, height } = spec.image;

  const shardsBySplit = Object.fromEntries(DATASET_SPLITS.map((split) => [split, planShards(plan.splits[split], spec.image)])) as Record<DatasetSplit, ShardPlan[]>;
  const unique = new Map(DATASET_SPLITS.flatMap((split) => shardsBySplit[split]).map((shard) => [shard.key, shard]));
  const present = await storedKeys(store, `datasets/preprocessed/${preprocessParamsId(spec.image)}/shards/`, [...unique.keys()]);
  const missing = [...unique.values()].filter((shard) => !present.has(shard.key));
  const earlier = missing.length > 0 ? await storedRows(store, datasetHash, spec.image) : new Map<string, StoredRow>();

  const imagesTotal = DATASET_SPLITS.reduce((sum, split) => sum + plan.splits[split].length, 0);
  let imagesDone = [...unique.values()].filter((shard) => present.has(shard.key)).reduce((sum, shard) => sum + shard.images.length, 0);
  let reused = imagesDone;
  let created = 0;
  if (imagesDone > 0) onProgress?.({ imagesDone, imagesTotal });

  // Earlier shards are read whole, once, and only while this step runs.
  const earlierShards = new Map<string, Promise<Uint8Array>>();
  const earlierShard = (key: string): Promise<Uint8Array> => {
    let pending = earlierShards.get(key);
    if (!pending) {
      pending = store.get(key).then((bytes) => decodeShard(bytes, spec.image, key).pixels);
      earlierShards.set(key, pending);
    }
    return pending;
  };
  const pixelsOf = async (image: DatasetImage): Promise<Uint8Array> => {
    const stored = earlier.get(image.sha256);
    if (stored) {
      const rows = await earlierShard(stored.key).catch(() => undefined);
      const bytes = width * height;
      if (rows && rows.length >= (stored.row + 1) * bytes) {
        reused += 1;
        return rows.subarray(stored.row * bytes, (stored.row + 1) * bytes);
      }
    }
    const source = await store.get(datasetKeys.blob(image.sha256));
    try {
      const gray = await preprocessImage(source, spec.image);
      created += 1;
      return gray;
    } catch (error) {
      throw new DatasetError(`Cannot preprocess ${image.path} (${image.sha256}): ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  const limit = pLimit(concurrency);
  const uploads: Promise<void>[] = [];
  for (const shard of missing) {
    const rows = new Uint8Array(shard.images.length * width * height);
    await Promise.all(
      shard.images.map((image, row) =>
        limit(async () => {
          rows.set(await pixelsOf(image), row * width * height);
          imagesDone += 1;
          onProgress?.({ imagesDone, imagesTotal });
        }),
      ),
    );
    // One upload in flight while the next shard is built; a failure surfaces at the latest below.
    if (uploads.length > 0) await uploads.shift();
    uploads.push(store.put(shard.key, encodeNpyUint8(rows, [shard.images.length, height, width]), 'application/octet-stream'));
  }
  await Promise.all(uploads);

  const writeSplit = async (split: DatasetSplit): Promise<SplitOutput> => {
    const splitManifest: SplitManifest = {
      version: 2,
      datasetHash,
      split,
      classes: manifest.classes,
      preprocessing: spec.image,
      classCounts: plan.classCounts[split],
      images: shardsBySplit[split].flatMap((shard) =>
        shard.images.map((image, row) => ({
          sha256: image.sha256,
          path: image.path,
          class: image.class,
          label: labels.get(image.class) ?? -1,
          key: shard.key,
          row,
        })),
      ),
    };
    const text = manifestText(splitManifest);
    const sha256 = sha256Bytes(text);
    const key = datasetKeys.split(datasetHash, sha256);
    await store.put(key, text, 'application/json');
    return { key, sha256, images: splitManifest.images.length, classCounts: plan.classCounts[split] };
  };
  const splits: Record<DatasetSplit, SplitOutput> = {
    train: await writeSplit('train'),
    val: await writeSplit('val'),
    test: await writeSplit('test'),
  };

  const record = {
    version: 1,
    datasetHash,
    spec: { seed: spec.seed, train: spec.train, val: spec.val, test: spec.test, image: spec.image },
    splits,
    conflictingLabels: plan.conflictingLabels,
    crossSplitDuplicates: plan.crossSplitDuplicates,
  };
  const recordText = manifestText(record);
  const subsetHash = sha256Bytes(recordText);
  const subsetKey = datasetKeys.subset(datasetHash, subsetHash);
  await store.put(subsetKey, recordText, 'application/json');
  log.info('Subset written', { datasetHash, subsetHash, created, reused });
  return {
    datasetHash,
    subsetKey,
    subsetHash,
    splits,
    preprocessed: { created, reused },
    conflictingLabels: plan.conflictingLabels,
    crossSplitDuplicates: plan.crossSplitDuplicates,
  };
}
