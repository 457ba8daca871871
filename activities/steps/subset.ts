import { subsetStep } from '../../common/step-kinds/subset.ts';
import { createSubset } from '../data/subset.ts';
import { defineStep } from './define-step.ts';

/** The `subset` step: a seeded stratified subset, preprocessed for training (activities/data/). */
export const createSubsetActivity = defineStep(subsetStep, ({ store }) => async ({ input, log, heartbeat }) => {
  const result = await createSubset({
    spec: {
      datasetManifest: input.datasetManifest,
      seed: input.seed,
      train: { from: 'train', fraction: input.fractions.train, maxPerClass: input.maxPerClass },
      val: { from: 'train', fraction: input.fractions.val, maxPerClass: input.maxPerClass },
      test: { from: input.testFrom, fraction: input.fractions.test, maxPerClass: input.maxPerClass },
      image: { width: input.imageSize, height: input.imageSize, channels: input.channels, fit: input.fit },
    },
    store,
    log,
    onProgress: (progress) => heartbeat({ phase: 'preprocess', ...progress }),
  });
  return {
    trainManifest: result.splits.train.key,
    valManifest: result.splits.val.key,
    testManifest: result.splits.test.key,
    manifestHash: result.subsetHash,
    subsetRecord: result.subsetKey,
    counts: {
      train: result.splits.train.classCounts,
      val: result.splits.val.classCounts,
      test: result.splits.test.classCounts,
    },
    preprocessed: result.preprocessed,
  };
});
