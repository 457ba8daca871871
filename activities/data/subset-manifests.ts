import { datasetKeys, manifestText, type DatasetManifest, type DatasetSplit, type PreprocessParams, type SplitManifest } from '../../common/dataset-manifest.ts';
import type { ObjectStore } from '../object-store.ts';
import { sha256Bytes } from './file-hash.ts';
import type { SubsetPlan, SubsetPlanSpec } from './subset-plan.ts';
import type { ShardPlan } from './subset-shards.ts';

/**
 * The records a subset leaves: one manifest per split (each image's shard and row), named by
 * its own sha256, and the subset record naming all three. Written only after every shard is
 * stored, the record last: its presence means the subset is complete. Deterministic text, so
 * the same spec and seed give byte-identical records.
 */

/** Where one split's manifest is, and what it holds. */
export interface SplitOutput {
  key: string;
  sha256: string;
  images: number;
  classCounts: Record<string, number>;
}

export interface SubsetRecordInput {
  store: ObjectStore;
  /** The draw and the preprocessing, recorded in the subset record. */
  spec: SubsetPlanSpec & { image: PreprocessParams };
  manifest: DatasetManifest;
  datasetHash: string;
  plan: SubsetPlan;
  shardsBySplit: Record<DatasetSplit, ShardPlan[]>;
}

async function writeSplitManifest(input: SubsetRecordInput, split: DatasetSplit, labels: Map<string, number>, preprocessing: PreprocessParams): Promise<SplitOutput> {
  const { store, datasetHash, manifest, plan } = input;
  const splitManifest: SplitManifest = {
    version: 2,
    datasetHash,
    split,
    classes: manifest.classes,
    preprocessing,
    classCounts: plan.classCounts[split],
    images: input.shardsBySplit[split].flatMap((shard) =>
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
}

/** Writes the three split manifests, then the subset record; returns where they are. */
export async function writeSubsetRecords(input: SubsetRecordInput): Promise<{ splits: Record<DatasetSplit, SplitOutput>; subsetKey: string; subsetHash: string }> {
  const { store, spec, datasetHash, plan } = input;
  const labels = new Map(input.manifest.classes.map((cls, index) => [cls, index]));
  const splits: Record<DatasetSplit, SplitOutput> = {
    train: await writeSplitManifest(input, 'train', labels, spec.image),
    val: await writeSplitManifest(input, 'val', labels, spec.image),
    test: await writeSplitManifest(input, 'test', labels, spec.image),
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
  return { splits, subsetKey, subsetHash };
}
