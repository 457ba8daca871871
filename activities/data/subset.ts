import pLimit from 'p-limit';
import {
  DATASET_SPLITS,
  DatasetManifestSchema,
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
import { preprocessImage } from './preprocess.ts';
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

/**
 * Draws train/val/test from a dataset (see `planSubset`), preprocesses every drawn image once
 * per parameter set (reusing earlier results by key), then writes the three split manifests and,
 * last, the subset record. Same spec, same seed → byte-identical manifests.
 */
export async function createSubset({ spec, store, log, onProgress, concurrency = 8 }: SubsetOptions): Promise<SubsetResult> {
  const { manifest, datasetHash } = await loadDatasetManifest(store, spec.datasetManifest);
  const plan = planSubset(manifest, spec);
  const labels = new Map(manifest.classes.map((cls, index) => [cls, index]));

  const selected = DATASET_SPLITS.flatMap((split) => plan.splits[split]);
  const prefix = `datasets/preprocessed/${preprocessParamsId(spec.image)}/`;
  const present = await storedKeys(store, prefix, selected.map((image) => datasetKeys.preprocessed(image.sha256, spec.image)));
  let created = 0;
  let reused = 0;
  let imagesDone = 0;
  const limit = pLimit(concurrency);
  await Promise.all(
    selected.map((image) =>
      limit(async () => {
        const key = datasetKeys.preprocessed(image.sha256, spec.image);
        if (present.has(key)) {
          reused += 1;
        } else {
          const source = await store.get(datasetKeys.blob(image.sha256));
          let output: Buffer;
          try {
            output = await preprocessImage(source, spec.image);
          } catch (error) {
            throw new DatasetError(`Cannot preprocess ${image.path} (${image.sha256}): ${error instanceof Error ? error.message : String(error)}`);
          }
          await store.put(key, output, 'application/octet-stream');
          created += 1;
        }
        imagesDone += 1;
        onProgress?.({ imagesDone, imagesTotal: selected.length });
      }),
    ),
  );

  const writeSplit = async (split: DatasetSplit): Promise<SplitOutput> => {
    const splitManifest: SplitManifest = {
      version: 1,
      datasetHash,
      split,
      classes: manifest.classes,
      preprocessing: spec.image,
      classCounts: plan.classCounts[split],
      images: plan.splits[split].map((image) => ({
        sha256: image.sha256,
        path: image.path,
        class: image.class,
        label: labels.get(image.class) ?? -1,
        key: datasetKeys.preprocessed(image.sha256, spec.image),
      })),
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
