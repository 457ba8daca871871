import { DATASET_SPLITS, type DatasetImage, type DatasetManifest, type DatasetSplit } from '../../common/dataset-manifest.ts';
import { DatasetError, PipelineSpecError } from '../../common/index.ts';
import { createRandom, shuffled } from '../../common/prng.ts';

/** Where one output split draws from, and how much. */
export interface SplitDraw {
  from: DatasetSplit;
  /** Fraction of each class of the source split, 0–1. */
  fraction: number;
  /** Most images per class in this output split. */
  maxPerClass?: number;
}

export interface SubsetPlanSpec {
  seed: number | string;
  train: SplitDraw;
  val: SplitDraw;
  test: SplitDraw;
}

export interface SubsetPlan {
  splits: Record<DatasetSplit, DatasetImage[]>;
  /** Per output split, images per class. */
  classCounts: Record<DatasetSplit, Record<string, number>>;
  /** Distinct contents left out because their bytes appear under two classes (label unknowable). */
  conflictingLabels: number;
  /** Images left out of a split because the same bytes were already drawn for another split. */
  crossSplitDuplicates: number;
}

/**
 * Stratified sampling without replacement, deterministic in (manifest, spec).
 *
 * For each source split and class the images are sorted by sha256 (so file names and listing
 * order do not matter), deduplicated by content, and shuffled with a PRNG seeded by
 * (seed, split, class). Output splits drawing from the same source take consecutive slices of
 * that one order — train first, then val, then test — so they are disjoint by construction, and a
 * smaller train fraction is a prefix of a larger one. Each class contributes
 * `round(fraction × count)` images (capped), so proportions are within one image of the request.
 */
export function planSubset(manifest: DatasetManifest, spec: SubsetPlanSpec): SubsetPlan {
  validateSpec(spec);
  const { pools, conflictingLabels } = buildPools(manifest);
  const offsets = new Map<string, number>();
  const taken = new Set<string>();
  const splits: Record<DatasetSplit, DatasetImage[]> = { train: [], val: [], test: [] };
  const classCounts: SubsetPlan['classCounts'] = { train: {}, val: {}, test: {} };
  let crossSplitDuplicates = 0;

  for (const target of DATASET_SPLITS) {
    const draw = spec[target];
    for (const cls of manifest.classes) classCounts[target][cls] = 0;
    if (draw.fraction === 0) continue;
    const sourceClasses = pools.get(draw.from);
    if (sourceClasses === undefined) {
      throw new DatasetError(`Subset ${target} asks for ${draw.fraction} of split "${draw.from}", but the dataset has no ${draw.from} split`);
    }
    for (const cls of manifest.classes) {
      const pool = sourceClasses.get(cls) ?? [];
      const order = shuffled(pool, createRandom(spec.seed, draw.from, cls));
      const wanted = Math.min(Math.round(draw.fraction * pool.length), draw.maxPerClass ?? Number.POSITIVE_INFINITY);
      const offsetKey = `${draw.from}\u0000${cls}`;
      let offset = offsets.get(offsetKey) ?? 0;
      const picked: DatasetImage[] = [];
      while (picked.length < wanted && offset < order.length) {
        const image = order[offset] as DatasetImage;
        offset += 1;
        if (taken.has(image.sha256)) {
          crossSplitDuplicates += 1;
          continue;
        }
        taken.add(image.sha256);
        picked.push(image);
      }
      offsets.set(offsetKey, offset);
      splits[target].push(...picked);
      classCounts[target][cls] = picked.length;
    }
    splits[target].sort((a, b) => compare(a.sha256, b.sha256));
  }
  assertDisjoint(splits);
  return { splits, classCounts, conflictingLabels, crossSplitDuplicates };
}

function validateSpec(spec: SubsetPlanSpec): void {
  const perSource = new Map<DatasetSplit, number>();
  for (const target of DATASET_SPLITS) {
    const { from, fraction, maxPerClass } = spec[target];
    if (!(fraction >= 0 && fraction <= 1)) {
      throw new PipelineSpecError(`Subset ${target}.fraction must be between 0 and 1, got ${fraction}`);
    }
    if (maxPerClass !== undefined && !(Number.isInteger(maxPerClass) && maxPerClass >= 0)) {
      throw new PipelineSpecError(`Subset ${target}.maxPerClass must be a non-negative integer, got ${maxPerClass}`);
    }
    perSource.set(from, (perSource.get(from) ?? 0) + fraction);
  }
  for (const [from, total] of perSource) {
    if (total > 1 + 1e-9) {
      throw new PipelineSpecError(`Subset fractions drawn from split "${from}" add up to ${total}, more than 1`);
    }
  }
}

/** Source split → class → unique images sorted by sha256. */
function buildPools(manifest: DatasetManifest): {
  pools: Map<DatasetSplit, Map<string, DatasetImage[]>>;
  conflictingLabels: number;
} {
  const classesBySha = new Map<string, Set<string>>();
  for (const image of manifest.images) {
    const classes = classesBySha.get(image.sha256) ?? new Set<string>();
    classes.add(image.class);
    classesBySha.set(image.sha256, classes);
  }
  const pools = new Map<DatasetSplit, Map<string, DatasetImage[]>>();
  const seen = new Set<string>();
  let conflictingLabels = 0;
  for (const image of manifest.images) {
    const poolKey = `${image.split}\u0000${image.sha256}`;
    if (seen.has(poolKey)) continue;
    seen.add(poolKey);
    if ((classesBySha.get(image.sha256)?.size ?? 0) > 1) {
      conflictingLabels += 1;
      continue;
    }
    const byClass = pools.get(image.split) ?? new Map<string, DatasetImage[]>();
    pools.set(image.split, byClass);
    const list = byClass.get(image.class) ?? [];
    byClass.set(image.class, list);
    list.push(image);
  }
  for (const byClass of pools.values()) for (const list of byClass.values()) list.sort((a, b) => compare(a.sha256, b.sha256));
  return { pools, conflictingLabels };
}

/** The plan's own check: no image twice, none in two splits. Cheap, so always run. */
function assertDisjoint(splits: Record<DatasetSplit, DatasetImage[]>): void {
  const owner = new Map<string, DatasetSplit>();
  for (const split of DATASET_SPLITS) {
    for (const image of splits[split]) {
      const previous = owner.get(image.sha256);
      if (previous !== undefined) {
        throw new DatasetError(`Subset is not disjoint: image ${image.sha256} (${image.path}) is in ${previous} and ${split}`);
      }
      owner.set(image.sha256, split);
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
