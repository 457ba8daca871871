import { z } from 'zod';
import type { StepKind } from '../step-kind.ts';
import { objectKeySchema } from './fields.ts';

/**
 * One `train` kind with `mode: partial | full` rather than two kinds: both run the same code
 * (build or load a model, fit, checkpoint every epoch); `full` only adds a warm start from the
 * partial run's model, as the seed notebook recompiles the same model and continues.
 */

const layerSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('flatten') }),
  z.strictObject({ type: z.literal('globalAveragePooling') }),
  z.strictObject({
    type: z.literal('dense'),
    units: z.number().int().min(1),
    activation: z.enum(['relu', 'softmax', 'sigmoid', 'linear', 'tanh']).default('relu'),
  }),
  z.strictObject({ type: z.literal('dropout'), rate: z.number().min(0).lt(1) }),
]);

const modelSchema = z
  .strictObject({
    backbone: z.enum(['vgg19', 'mobilenet_v1']),
    weights: z
      .string()
      .min(1)
      .optional()
      .describe('TF.js layers model (model.json + shards): URL, file path or s3:// key; omitted: random init'),
    featureLayer: z.string().min(1).optional().describe('Backbone layer whose output feeds the head; default: the last conv block'),
    inputSize: z.number().int().min(32).max(1024).describe('Square input side in pixels'),
    trainable: z
      .union([z.boolean(), z.strictObject({ lastN: z.number().int().min(1) })])
      .default(false)
      .describe('false freezes the backbone; { lastN } fine-tunes its last N layers'),
    head: z.array(layerSchema).min(1).describe('Layers after the backbone; the last one is the classifier'),
  })
  .describe('Backbone plus head');

const augmentationSchema = z
  .strictObject({
    rotation: z.number().min(0).max(180).default(0).describe('Max rotation in degrees'),
    widthShift: z.number().min(0).max(1).default(0),
    heightShift: z.number().min(0).max(1).default(0),
    shear: z.number().min(0).max(1).default(0),
    zoom: z.number().min(0).max(1).default(0),
    horizontalFlip: z.boolean().default(false),
    fillMode: z.enum(['nearest', 'constant', 'reflect']).default('nearest'),
  })
  .describe('Random augmentation of training images, seeded from `seed`');

const input = z
  .strictObject({
    mode: z.enum(['partial', 'full']).describe('partial: train on a subset; full: warm-start from `warmStartFrom` and retrain'),
    trainManifest: objectKeySchema,
    valManifest: objectKeySchema,
    warmStartFrom: objectKeySchema.optional().describe('Model key of an earlier train step (required for mode: full)'),
    model: modelSchema,
    optimizer: z.strictObject({
      name: z.enum(['rmsprop', 'adam', 'sgd']),
      learningRate: z.number().positive(),
    }),
    loss: z.enum(['categoricalCrossentropy', 'binaryCrossentropy']).default('categoricalCrossentropy'),
    metrics: z.array(z.enum(['accuracy', 'auc', 'precision', 'recall'])).default(['accuracy']),
    classWeights: z
      .union([z.literal('balanced'), z.record(z.string(), z.number().positive())])
      .optional()
      .describe("'balanced' or a weight per class name"),
    batchSize: z.number().int().min(1).max(4096).default(32),
    epochs: z.number().int().min(1).max(10_000),
    earlyStopping: z
      .strictObject({
        monitor: z.enum(['valLoss', 'valAccuracy']).default('valLoss'),
        patience: z.number().int().min(1).default(3),
        minDelta: z.number().min(0).default(0),
      })
      .optional(),
    augmentation: augmentationSchema.optional(),
    seed: z.number().int().min(0).default(42),
    engine: z.enum(['auto', 'webgpu', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu']).default('auto'),
    checkpointEveryBatches: z.number().int().min(1).optional().describe('Extra checkpoints inside an epoch'),
  })
  .superRefine((value, ctx) => {
    if (value.mode === 'full' && value.warmStartFrom === undefined) {
      ctx.addIssue({ code: 'custom', path: ['warmStartFrom'], message: 'mode: full needs warmStartFrom (the partial model key)' });
    }
  })
  .describe('train inputs');

const output = z.object({
  model: objectKeySchema.describe('Prefix of the TF.js layers model (model.json + weights)'),
  history: objectKeySchema.describe('Key of the per-epoch history JSON'),
  classes: z.array(z.string()),
  engine: z.string(),
  backend: z.string(),
  device: z.string().optional(),
  epochs: z.number().int().min(0).describe('Epochs actually run (early stopping may cut them short)'),
  secondsPerEpoch: z.number().min(0),
  imagesPerSecond: z.number().min(0),
  finalMetrics: z.record(z.string(), z.number()).describe('Last epoch: loss, acc, valLoss, valAcc, …'),
});

/** Fits a backbone + head model, checkpointing every epoch so a retry resumes where it stopped. */
export const trainStep = {
  uses: 'train',
  version: '1',
  description: 'Trains a backbone + dense head (partial on a subset, or full warm-started), resumable per epoch',
  input,
  output,
  artifactInputs: ['trainManifest', 'valManifest', 'warmStartFrom'],
  defaultQueue: 'gpu',
} as const satisfies StepKind<typeof input, typeof output>;

export type TrainInput = z.infer<typeof input>;
export type TrainOutput = z.infer<typeof output>;
