import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { planSubset, type SubsetPlanSpec } from '../../activities/data/subset-plan.ts';
import type { DatasetImage, DatasetManifest, DatasetSplit } from '../../common/dataset-manifest.ts';
import { DatasetError, PipelineSpecError } from '../../common/errors.ts';
import { createRandom, shuffled } from '../../common/prng.ts';

function image(split: DatasetSplit, cls: string, i: number, content = `${split}/${cls}/${i}`): DatasetImage {
  return {
    path: `${split}/${cls}/img-${i}.jpeg`,
    split,
    class: cls,
    sha256: createHash('sha256').update(content).digest('hex'),
    bytes: 100,
    width: 224,
    height: 224,
  };
}

/** 1,340 NORMAL / 3,850 PNEUMONIA train and 234 / 390 test, like the real dataset. */
function chestLikeManifest(): DatasetManifest {
  const images: DatasetImage[] = [];
  const add = (split: DatasetSplit, cls: string, n: number) => {
    for (let i = 0; i < n; i++) images.push(image(split, cls, i));
  };
  add('train', 'NORMAL', 1340);
  add('train', 'PNEUMONIA', 3850);
  add('test', 'NORMAL', 234);
  add('test', 'PNEUMONIA', 390);
  return { version: 1, classes: ['NORMAL', 'PNEUMONIA'], images };
}

const partial: SubsetPlanSpec = {
  seed: 42,
  train: { from: 'train', fraction: 0.2 },
  val: { from: 'train', fraction: 0.05 },
  test: { from: 'test', fraction: 0.2 },
};

describe('seeded PRNG', () => {
  it('gives the same sequence for the same seed parts and a different one otherwise', () => {
    const a = createRandom(7, 'train');
    const b = createRandom(7, 'train');
    const c = createRandom(7, 'val');
    const seqA = Array.from({ length: 5 }, () => a());
    assert.deepEqual(seqA, Array.from({ length: 5 }, () => b()));
    assert.notDeepEqual(seqA, Array.from({ length: 5 }, () => c()));
    assert.ok(seqA.every((x) => x >= 0 && x < 1));
  });

  it('shuffles into a permutation without touching the input', () => {
    const input = Array.from({ length: 100 }, (_, i) => i);
    const out = shuffled(input, createRandom('s'));
    assert.deepEqual([...out].sort((x, y) => x - y), input);
    assert.notDeepEqual(out, input);
    assert.equal(input[0], 0);
  });
});

describe('planSubset', () => {
  it('gives identical splits for the same seed and different ones for another seed', () => {
    const manifest = chestLikeManifest();
    const first = planSubset(manifest, partial);
    const second = planSubset(manifest, partial);
    const other = planSubset(manifest, { ...partial, seed: 43 });
    assert.equal(JSON.stringify(first), JSON.stringify(second));
    assert.notDeepEqual(
      first.splits.train.map((i) => i.sha256),
      other.splits.train.map((i) => i.sha256),
    );
  });

  it('does not depend on the order of images in the manifest', () => {
    const manifest = chestLikeManifest();
    const reversed = { ...manifest, images: [...manifest.images].reverse() };
    assert.deepEqual(planSubset(manifest, partial).splits, planSubset(reversed, partial).splits);
  });

  it('draws without replacement and keeps val disjoint from train', () => {
    const plan = planSubset(chestLikeManifest(), { ...partial, train: { from: 'train', fraction: 0.9 }, val: { from: 'train', fraction: 0.1 } });
    const train = plan.splits.train.map((i) => i.sha256);
    const val = plan.splits.val.map((i) => i.sha256);
    assert.equal(new Set(train).size, train.length);
    assert.equal(new Set(val).size, val.length);
    assert.equal(train.filter((sha) => val.includes(sha)).length, 0);
    assert.ok(plan.splits.val.every((i) => i.split === 'train'));
  });

  it('takes round(fraction × class size) of every class, within one image of the request', () => {
    const plan = planSubset(chestLikeManifest(), partial);
    assert.deepEqual(plan.classCounts.train, { NORMAL: 268, PNEUMONIA: 770 });
    assert.deepEqual(plan.classCounts.val, { NORMAL: 67, PNEUMONIA: 193 });
    assert.deepEqual(plan.classCounts.test, { NORMAL: 47, PNEUMONIA: 78 });
    const sizes: Record<string, number> = { NORMAL: 1340, PNEUMONIA: 3850 };
    for (const [cls, count] of Object.entries(plan.classCounts.train)) {
      assert.ok(Math.abs(count - 0.2 * (sizes[cls] ?? 0)) <= 1, `${cls}: ${count}`);
    }
    assert.equal(plan.splits.train.length, 268 + 770);
  });

  it('makes a smaller train fraction a subset of a larger one with the same seed', () => {
    const small = planSubset(chestLikeManifest(), { ...partial, val: { from: 'train', fraction: 0 } });
    const large = planSubset(chestLikeManifest(), { ...partial, train: { from: 'train', fraction: 0.9 }, val: { from: 'train', fraction: 0 } });
    const largeSet = new Set(large.splits.train.map((i) => i.sha256));
    assert.ok(small.splits.train.every((i) => largeSet.has(i.sha256)));
  });

  it('caps images per class', () => {
    const plan = planSubset(chestLikeManifest(), { ...partial, train: { from: 'train', fraction: 0.5, maxPerClass: 100 } });
    assert.deepEqual(plan.classCounts.train, { NORMAL: 100, PNEUMONIA: 100 });
  });

  it('counts byte-identical duplicates once and drops images whose bytes carry two labels', () => {
    const images = [
      image('train', 'A', 1, 'same'),
      image('train', 'A', 2, 'same'),
      image('train', 'A', 3),
      image('train', 'B', 1, 'clash'),
      image('train', 'A', 4, 'clash'),
      image('train', 'B', 2),
      image('test', 'A', 1, 'same'),
      image('test', 'B', 1),
    ];
    const plan = planSubset(
      { version: 1, classes: ['A', 'B'], images },
      { seed: 1, train: { from: 'train', fraction: 1 }, val: { from: 'train', fraction: 0 }, test: { from: 'test', fraction: 1 } },
    );
    assert.deepEqual(plan.classCounts.train, { A: 2, B: 1 });
    assert.equal(plan.conflictingLabels, 1);
    assert.equal(plan.crossSplitDuplicates, 1);
    assert.deepEqual(plan.classCounts.test, { A: 0, B: 1 });
  });

  it('rejects fractions of one source that add up to more than 1', () => {
    assert.throws(
      () => planSubset(chestLikeManifest(), { ...partial, train: { from: 'train', fraction: 0.9 }, val: { from: 'train', fraction: 0.2 } }),
      (error: unknown) => error instanceof PipelineSpecError && /drawn from split "train" add up to 1\.1/.test(error.message),
    );
  });

  it('rejects a draw from a split the dataset does not have', () => {
    const manifest = chestLikeManifest();
    const noTest = { ...manifest, images: manifest.images.filter((i) => i.split !== 'test') };
    assert.throws(
      () => planSubset(noTest, partial),
      (error: unknown) => error instanceof DatasetError && /no test split/.test(error.message),
    );
  });
});
