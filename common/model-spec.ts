import { z } from 'zod';

/**
 * The model a `train` step builds: backbone, head, optimizer, loss. Shared by the `train` step
 * kind (validation in the client) and the training activities (model builder, trainer), so a
 * pipeline that validates is a model that builds.
 */

/** Training engines a worker can run; `auto` picks the best one available on the machine. */
export const ENGINE_PREFERENCES = ['auto', 'webgpu', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const;
export type EnginePreference = (typeof ENGINE_PREFERENCES)[number];
export type EngineName = Exclude<EnginePreference, 'auto'>;

/** Backbone architectures the builder knows (add one here and in the model builder). */
export const BACKBONE_NAMES = ['vgg19', 'mobilenet_v1'] as const;

export const BackboneSpecSchema = z.strictObject({
  name: z.enum(BACKBONE_NAMES),
  /**
   * Where a TF.js layers model (`model.json` + weight shards) lives: `https://…/model.json`, a
   * local path, or `s3://<key>` in the pipeline's bucket. `none` builds the architecture with
   * random weights (vgg19 only: mobilenet_v1 is only ever used pretrained).
   */
  weights: z.string().min(1).default('none'),
  /** Layer whose output feeds the head, e.g. `block5_pool` (vgg19), `conv_pw_13_relu` (mobilenet_v1). */
  featureLayer: z.string().min(1).optional(),
  /** Square input size in pixels; loaded models must match their stored input shape. */
  inputSize: z.number().int().min(32).max(1024).default(224),
  /**
   * `false`: frozen (features computed once and cached). `true`: every layer trains.
   * A number N: only the last N backbone layers that hold weights train.
   */
  trainable: z.union([z.boolean(), z.number().int().positive()]).default(false),
});
export type BackboneSpec = z.infer<typeof BackboneSpecSchema>;

export const DenseLayerSpecSchema = z.strictObject({
  units: z.number().int().positive(),
  activation: z.enum(['relu', 'linear', 'tanh', 'sigmoid', 'elu', 'selu']).default('relu'),
  /** Dropout rate applied after this layer while training (0 = none). */
  dropout: z.number().min(0).lt(1).default(0),
});
export type DenseLayerSpec = z.infer<typeof DenseLayerSpecSchema>;

export const HeadSpecSchema = z.strictObject({
  /** How backbone feature maps become a vector: `flatten` (the notebook) or global average pooling. */
  pooling: z.enum(['flatten', 'gap']).default('flatten'),
  dense: z.array(DenseLayerSpecSchema).default([]),
  /** Output layer: one unit per class with softmax. */
  classes: z.number().int().min(2),
});
export type HeadSpec = z.infer<typeof HeadSpecSchema>;

export const OptimizerSpecSchema = z.strictObject({
  name: z.enum(['rmsprop', 'adam', 'sgd']),
  learningRate: z.number().positive(),
  /** sgd momentum / rmsprop momentum (0 = plain). */
  momentum: z.number().min(0).lt(1).default(0),
});
export type OptimizerSpec = z.infer<typeof OptimizerSpecSchema>;

export const EarlyStoppingSpecSchema = z.strictObject({
  monitor: z.enum(['val_loss', 'val_accuracy', 'val_auc']).default('val_loss'),
  /** Epochs without improvement before stopping. */
  patience: z.number().int().min(1).default(3),
  /** Smallest change that counts as an improvement. */
  minDelta: z.number().min(0).default(0),
});
export type EarlyStoppingSpec = z.infer<typeof EarlyStoppingSpecSchema>;

export const ModelSpecSchema = z.strictObject({
  backbone: BackboneSpecSchema,
  head: HeadSpecSchema,
  optimizer: OptimizerSpecSchema,
  loss: z.enum(['categorical_crossentropy']).default('categorical_crossentropy'),
  metrics: z.array(z.enum(['accuracy', 'auc'])).default(['accuracy']),
  /** Per-class loss weights by class index, e.g. `{ "0": 1.9, "1": 0.67 }`. */
  classWeights: z.record(z.string().regex(/^\d+$/), z.number().positive()).optional(),
});
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

export const TrainingSpecSchema = z.strictObject({
  epochs: z.number().int().positive(),
  batchSize: z.number().int().positive().default(32),
  seed: z.number().int().min(0).default(42),
  earlyStopping: EarlyStoppingSpecSchema.optional(),
});
export type TrainingSpec = z.infer<typeof TrainingSpecSchema>;
