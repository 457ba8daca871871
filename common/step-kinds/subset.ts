import { z } from 'zod';
import type { StepKind } from '../step-kind.ts';
import { countsSchema, fractionSchema, objectKeySchema, sha256Schema } from './fields.ts';

const input = z
  .strictObject({
    datasetManifest: objectKeySchema.describe('Dataset manifest written by a download step'),
    seed: z.number().int().min(0).default(42),
    fractions: z
      .strictObject({
        train: fractionSchema.describe('Share of the source train split used for training'),
        val: fractionSchema.describe('Share of the source train split held out for validation (disjoint from train)'),
        test: fractionSchema.default(1).describe('Share of the test source (see testFrom)'),
      })
      .describe('Stratified sampling without replacement, per source split'),
    testFrom: z
      .enum(['test', 'train'])
      .default('test')
      .describe('Source of test images: the dataset test split, or held out of train (disjoint) when it has none'),
    maxPerClass: z.number().int().min(1).optional().describe('Cap on images per class and split'),
    imageSize: z.number().int().min(8).max(4096).describe('Side of the square images the model takes, in pixels'),
    channels: z.union([z.literal(1), z.literal(3)]).default(3).describe('3 replicates grayscale for RGB backbones'),
    fit: z.enum(['fill', 'cover', 'contain']).default('fill').describe('fill stretches to the square, as the common 224-px copies do'),
  })
  // Caught here, so `mlp validate` reports it at the field instead of the run failing at the step.
  .superRefine((value, context) => {
    const { train, val, test } = value.fractions;
    // A fraction out of [0, 1] is already reported at its own field.
    if ([train, val, test].some((fraction) => !(fraction >= 0 && fraction <= 1))) return;
    const fromTrain = train + val + (value.testFrom === 'train' ? test : 0);
    if (fromTrain > 1 + 1e-9) {
      context.addIssue({
        code: 'custom',
        path: ['fractions'],
        message: `train + val${value.testFrom === 'train' ? ' + test (testFrom: train)' : ''} draw ${Math.round(fromTrain * 1e6) / 1e6} of the train split: at most 1, the splits are disjoint`,
      });
    }
  })
  .describe('subset inputs');

const output = z.object({
  trainManifest: objectKeySchema,
  valManifest: objectKeySchema,
  testManifest: objectKeySchema,
  manifestHash: sha256Schema.describe('sha256 of the subset record, which names the three split manifests by hash'),
  subsetRecord: objectKeySchema.describe('Subset record (spec, split keys and hashes), written after the splits'),
  counts: countsSchema,
});

/** Deterministic, seeded, stratified sampling plus preprocessing into training-ready images. */
export const subsetStep = {
  uses: 'subset',
  activity: 'subsetDataset',
  version: '2',
  description: 'Seeded stratified train/val/test subset without replacement, resized and stored for training',
  input,
  output,
  artifactInputs: ['datasetManifest'],
  artifactOutputs: ['trainManifest', 'valManifest', 'testManifest', 'subsetRecord'],
  volatileOutputs: ['preprocessed'],
  defaultQueue: 'cpu',
} as const satisfies StepKind<typeof input, typeof output>;

export type SubsetInput = z.infer<typeof input>;
export type SubsetOutput = z.infer<typeof output>;
