import { z } from 'zod';
import { EarlyStoppingSchema, ENGINE_PREFERENCES, FEATURE_ENGINE_PREFERENCES, LossSchema, ModelSchema, OptimizerSchema } from '../model-spec.ts';
import type { StepKind } from '../step-kind.ts';
import { objectKeySchema } from './fields.ts';

/**
 * One `train` kind with `mode: partial | full` rather than two kinds: both run the same code
 * (build or load a model, fit, checkpoint every epoch); `full` only adds a warm start from the
 * partial run's model, as the seed notebook recompiles the same model and continues.
 */

const augmentationSchema = z
  .strictObject({
    rotation: z.number().min(0).max(180).default(0).describe('Max rotation in degrees'),
    widthShift: z.number().min(0).max(1).default(0).describe('Max horizontal shift, a fraction of the width'),
    heightShift: z.number().min(0).max(1).default(0).describe('Max vertical shift, a fraction of the height'),
    shear: z.number().min(0).max(45).default(0).describe("Max shear angle in degrees (Keras's shear_range: the notebook's 0.2 is 0.2 degrees)"),
    zoom: z.number().min(0).max(1).default(0).describe('Zoom drawn per axis from [1 - zoom, 1 + zoom]'),
    horizontalFlip: z.boolean().default(false),
    fillMode: z.enum(['nearest', 'constant', 'reflect']).default('nearest'),
    views: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(4)
      .describe('Frozen backbone only: augmented copies per image whose features are computed once; epoch e trains on copy e mod views'),
  })
  .describe(
    'Random affine augmentation of training images (as Keras ImageDataGenerator, bilinear), seeded from `seed`; validation is never augmented. ' +
      'A trainable backbone gets a fresh copy of every image each epoch; a frozen one caches features of `views` fixed copies.',
  );

const input = z
  .strictObject({
    mode: z.enum(['partial', 'full']).describe('partial: train on a subset; full: warm-start from `warmStartFrom` and retrain'),
    trainManifest: objectKeySchema,
    valManifest: objectKeySchema,
    warmStartFrom: objectKeySchema.optional().describe('Model key of an earlier train step (required for mode: full)'),
    model: ModelSchema,
    optimizer: OptimizerSchema,
    loss: LossSchema,
    metrics: z.array(z.enum(['accuracy', 'auc', 'precision', 'recall'])).default(['accuracy']),
    classWeights: z
      .union([z.literal('balanced'), z.record(z.string(), z.number().positive())])
      .optional()
      .describe("'balanced' or a weight per class name"),
    batchSize: z.number().int().min(1).max(4096).default(32),
    epochs: z.number().int().min(1).max(10_000),
    earlyStopping: EarlyStoppingSchema.optional(),
    augmentation: augmentationSchema.optional(),
    seed: z.number().int().min(0).default(42),
    engine: z.enum(ENGINE_PREFERENCES).default('auto'),
    featureEngine: z
      .enum(FEATURE_ENGINE_PREFERENCES)
      .default('auto')
      .describe(
        'What computes a frozen backbone\'s features (the head trains on the training engine): onnxruntime (ONNX Runtime on a worker thread), tfjs (the training engine), ' +
          'or auto: ONNX Runtime when the backbone converts and the runtime loads, else tfjs (the reason is in the outputs, featureEngineSkipped)',
      ),
    checkpointEveryBatches: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('Also checkpoint every N batches inside an epoch: a retry resumes mid-epoch, bit-identically'),
  })
  .superRefine((value, ctx) => {
    if (value.mode === 'full' && value.warmStartFrom === undefined) {
      ctx.addIssue({ code: 'custom', path: ['warmStartFrom'], message: 'mode: full needs warmStartFrom (the partial model key)' });
    }
  })
  .describe('train inputs');

const output = z.object({
  model: objectKeySchema.describe('Key of the TF.js layers model.json (weights.bin beside it); classes and preprocessing in its userDefinedMetadata'),
  history: objectKeySchema.describe('Key of the per-epoch history JSON'),
  classes: z.array(z.string()),
  engine: z.string(),
  backend: z.string(),
  device: z.string().optional(),
  epochs: z.number().int().min(0).describe('Epochs actually run (early stopping may cut them short)'),
  secondsPerEpoch: z.number().min(0).describe('Mean epoch time (head only once frozen-backbone features are cached)'),
  imagesPerSecond: z.number().min(0).describe('Training images × epochs over epoch time plus feature extraction time'),
  finalMetrics: z.record(z.string(), z.number()).describe('Last epoch: loss, accuracy, valLoss, valAccuracy, valAuc'),
  weightsSha256: z.string().describe('sha256 of the trained weights: equal for an interrupted and an uninterrupted run on the cpu and wasm engines'),
  initialWeightsSha256: z
    .string()
    .optional()
    .describe("sha256 of the trainable weights before training: for mode: full, the warm start's, equal to the partial run's weightsSha256"),
  resumedFromEpoch: z.number().int().min(0).describe('Epochs the final attempt restored from a checkpoint (0: trained from scratch)'),
  stoppedEarly: z.boolean(),
  seed: z.number().int(),
  checkpoints: objectKeySchema.describe('Prefix of the epoch checkpoints: runs/<workflowId>/<stepId>/checkpoints/<inputs hash>'),
  trainImages: z.number().int().min(0),
  valImages: z.number().int().min(0),
  featureSeconds: z.number().min(0).describe('Time spent computing cached frozen-backbone features'),
  featuresReused: z.number().int().min(0).describe('Frozen-backbone feature vectors read from features/ in object storage'),
  featuresComputed: z.number().int().min(0).describe('Frozen-backbone feature vectors computed (and stored) by this run'),
  featureEngine: z.enum(['onnxruntime', 'tfjs', 'none']).describe('What computed the frozen-backbone features (none: the backbone trains, nothing cached)'),
  featureDevice: z.string().describe('Where the feature engine ran: ONNX Runtime provider, threads, spinning, arena; or the tfjs engine'),
  featureEngineSkipped: z.array(z.object({ engine: z.string(), reason: z.string() })).describe('Feature engines passed over, and why'),
});

/** Fits a backbone + head model, checkpointing every epoch so a retry resumes where it stopped. */
export const trainStep = {
  uses: 'train',
  activity: 'trainModel',
  // 2: model.preprocessing, and vgg19 defaults to caffe (was x/255): equal inputs now train another model.
  version: '2',
  description: 'Trains a backbone + dense head (partial on a subset, or full warm-started), resumable per epoch',
  volatileOutputs: [
    'secondsPerEpoch',
    'imagesPerSecond',
    'featureSeconds',
    'featuresReused',
    'featuresComputed',
    'resumedFromEpoch',
    'device',
    'featureDevice',
    'featureEngineSkipped',
  ],
  input,
  output,
  artifactInputs: ['trainManifest', 'valManifest', 'warmStartFrom'],
  artifactOutputs: ['model', 'history'],
  // Backends round differently: a model trained on wasm is not the one tfjs-node-gpu would give.
  resultsDependOnEngine: true,
  // The last epoch's log; validation metrics only when the step has a validation split.
  metrics: { output: 'finalMetrics', names: ['loss', 'accuracy', 'valLoss', 'valAccuracy', 'valAuc'] },
  defaultQueue: 'gpu',
} as const satisfies StepKind<typeof input, typeof output>;

export type TrainInput = z.infer<typeof input>;
export type TrainOutput = z.infer<typeof output>;
