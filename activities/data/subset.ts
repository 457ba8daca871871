import { DATASET_SPLITS, DatasetManifestSchema, preprocessParamsId, type DatasetManifest, type DatasetSplit, type PreprocessParams } from '../../common/dataset-manifest.ts';
import { DatasetError } from '../../common/index.ts';
import type { ObjectStore } from '../object-store.ts';
import { earlierRows, noEarlierRows } from './earlier-rows.ts';
import { sha256Bytes } from './file-hash.ts';
import type { DataLogger } from './logger.ts';
import { buildShards } from './shard-builder.ts';
import { storedKeys } from './stored-keys.ts';
import { writeSubsetRecords, type SplitOutput } from './subset-manifests.ts';
import { planSubset, type SubsetPlanSpec } from './subset-plan.ts';
import { planSplitShards } from './subset-shards.ts';

export type { SplitOutput } from './subset-manifests.ts';
export { SHARD_IMAGES } from './subset-shards.ts';

export interface SubsetSpec extends SubsetPlanSpec {
  /** Key of the dataset manifest written by `download`. */
  datasetManifest: string;
  image: PreprocessParams;
}

export interface SubsetProgress {
  imagesDone: number;
  imagesTotal: number;
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

/**
 * Draws train/val/test from a dataset (see `planSubset`), preprocesses every drawn image once
 * per parameter set into shards (reusing stored shards, and rows of earlier shards), then writes
 * the three split manifests and, last, the subset record. Same spec, same seed → byte-identical
 * manifests.
 */
export async function createSubset({ spec, store, log, onProgress, concurrency = 8 }: SubsetOptions): Promise<SubsetResult> {
  // Plan: the draw, then the shards it needs and which of them are stored already.
  const { manifest, datasetHash } = await loadDatasetManifest(store, spec.datasetManifest);
  const plan = planSubset(manifest, spec);
  const shards = planSplitShards(plan.splits, spec.image);
  const present = await storedKeys(store, `datasets/preprocessed/${preprocessParamsId(spec.image)}/shards/`, shards.unique.map((shard) => shard.key));
  const missing = shards.unique.filter((shard) => !present.has(shard.key));

  const imagesTotal = DATASET_SPLITS.reduce((sum, split) => sum + plan.splits[split].length, 0);
  const imagesPresent = shards.unique.filter((shard) => present.has(shard.key)).reduce((sum, shard) => sum + shard.images.length, 0);
  let imagesDone = imagesPresent;
  if (imagesDone > 0) onProgress?.({ imagesDone, imagesTotal });

  // Reuse and preprocess: missing shards take rows of earlier subsets' shards where they can.
  const built = await buildShards({
    shards: missing,
    store,
    params: spec.image,
    earlier: missing.length > 0 ? await earlierRows(store, datasetHash, spec.image) : noEarlierRows,
    concurrency,
    onImage: () => {
      imagesDone += 1;
      onProgress?.({ imagesDone, imagesTotal });
    },
  });
  const created = built.created;
  const reused = imagesPresent + built.reused;

  // Records last, once every shard they name is stored.
  const { splits, subsetKey, subsetHash } = await writeSubsetRecords({ store, spec, manifest, datasetHash, plan, shardsBySplit: shards.bySplit });
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
