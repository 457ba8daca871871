import { z } from 'zod';
import { checkWeightsReference, WeightsHashSchema } from './weights-reference.ts';

/**
 * The model and training settings of a `train` step, shared by the step kind (validation in the
 * client, common/step-kinds/train.ts) and the training activities (model builder, trainer), so
 * a pipeline that validates is a model that builds.
 */

/** Training engines a worker can run; `auto` picks the best one available on the machine. */
export const ENGINE_PREFERENCES = ['auto', 'webgpu', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const;
export type EnginePreference = (typeof ENGINE_PREFERENCES)[number];
export type EngineName = Exclude<EnginePreference, 'auto'>;

/**
 * What computes a frozen backbone's features: `onnxruntime` (ONNX Runtime on a worker thread, the
 * backbone converted to an ONNX graph), `tfjs` (the training engine), or `auto`: ONNX Runtime when
 * the backbone converts and the runtime loads here, else tfjs, with the reason in the step's outputs.
 */
export const FEATURE_ENGINE_PREFERENCES = ['auto', 'onnxruntime', 'tfjs'] as const;
export type FeatureEnginePreference = (typeof FEATURE_ENGINE_PREFERENCES)[number];
export type FeatureEngineName = Exclude<FeatureEnginePreference, 'auto'>;

/** Backbone architectures the builder knows (add one here and in the model builder). */
export const BACKBONE_NAMES = ['vgg19', 'mobilenet_v1'] as const;
export type BackboneName = (typeof BACKBONE_NAMES)[number];

/**
 * How pixels (0…255) become model input, as Keras' `preprocess_input` modes:
 * `caffe` flips RGB to BGR and subtracts the ImageNet channel means (no scaling), what Keras'
 * VGG16/VGG19 ImageNet weights were trained on; `symmetric` is x/127.5 − 1 (Keras' `tf` mode,
 * MobileNet's); `unit` is x/255 (the seed notebook's `rescale=1./255`).
 */
export const PREPROCESSING_MODES = ['caffe', 'unit', 'symmetric'] as const;
export type Preprocessing = (typeof PREPROCESSING_MODES)[number];

/** The preprocessing each backbone's published ImageNet weights were trained with: the default. */
export const BACKBONE_PREPROCESSING: Record<BackboneName, Preprocessing> = {
  vgg19: 'caffe',
  mobilenet_v1: 'symmetric',
};

/** The preprocessing a model trains and evaluates with: the spec's, else its backbone's default. */
export function modelPreprocessing(model: { backbone: BackboneName; preprocessing?: Preprocessing | undefined }): Preprocessing {
  return model.preprocessing ?? BACKBONE_PREPROCESSING[model.backbone];
}

export const HeadLayerSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('flatten') }),
  z.strictObject({ type: z.literal('globalAveragePooling') }),
  z.strictObject({
    type: z.literal('dense'),
    units: z.number().int().min(1),
    activation: z.enum(['relu', 'softmax', 'sigmoid', 'linear', 'tanh']).default('relu'),
  }),
  z.strictObject({ type: z.literal('dropout'), rate: z.number().min(0).lt(1) }),
]);
export type HeadLayer = z.infer<typeof HeadLayerSchema>;

const LearningRateScaleSchema = z
  .number()
  .positive()
  .max(1)
  .optional()
  .describe(
    "Multiplies optimizer.learningRate for the backbone's trained layers (the head keeps the full rate); default 1. " +
      'Pretrained layers need a smaller step than a fresh head: with adam at 1e-3 everywhere, MobileNet fine-tuned from conv_dw_12 collapsed to one class',
  );

/** Which backbone layers train (the head always does), and at what fraction of the learning rate. */
export const TrainableSchema = z.union([
  z.boolean(),
  z.strictObject({ lastN: z.number().int().min(1).describe('The last N backbone layers that hold weights train'), learningRateScale: LearningRateScaleSchema }),
  z.strictObject({
    from: z.string().min(1).describe('Name of the first backbone layer that trains (e.g. conv_dw_12 of mobilenet_v1); every later layer up to the feature layer trains too'),
    learningRateScale: LearningRateScaleSchema,
  }),
]);

/** The learning-rate multiplier of a backbone's trained layers. */
export function backboneLearningRateScale(trainable: Trainable): number {
  return typeof trainable === 'object' ? (trainable.learningRateScale ?? 1) : 1;
}
export type Trainable = z.infer<typeof TrainableSchema>;

export const ModelSchema = z
  .strictObject({
    backbone: z.enum(BACKBONE_NAMES),
    weights: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Pretrained backbone weights: keras:vgg19 (Keras\' official ImageNet file, pinned), a Keras .h5 weights file, or a TF.js layers model (model.json + shards); ' +
          'each as an https:// URL, file:// URL or path, or s3:// key; omitted: random init',
      ),
    weightsHash: WeightsHashSchema.optional(),
    featureLayer: z.string().min(1).optional().describe('Backbone layer whose output feeds the head; default: the last conv block'),
    inputSize: z.number().int().min(32).max(1024).describe('Square input side in pixels'),
    preprocessing: z
      .enum(PREPROCESSING_MODES)
      .optional()
      .describe(
        'How pixels become model input: caffe (BGR, minus the ImageNet means [103.939, 116.779, 123.68], no scaling), unit (x/255) or symmetric (x/127.5 - 1). ' +
          "Default: what the backbone's ImageNet weights were trained with (vgg19: caffe, mobilenet_v1: symmetric). Recorded in model.json; evaluate applies the same",
      ),
    trainable: TrainableSchema.default(false).describe(
      'false freezes the backbone; true trains all of it; { lastN } fine-tunes its last N layers that hold weights; ' +
        '{ from: <layer name> } fine-tunes that layer and every layer after it up to the feature layer. ' +
        'Batch-norm layers in the trained part keep running on their moving statistics (inference mode, as in Keras fine-tuning); their scale and offset train. ' +
        'learningRateScale (object forms) sets the trained backbone layers\' share of the learning rate',
    ),
    head: z.array(HeadLayerSchema).min(1).describe('Layers after the backbone; the last one is the classifier'),
  })
  .superRefine(checkWeightsReference)
  // The default is written into the validated spec, so the resolved pipeline (and every later
  // reproduce of it) says which preprocessing it trained with even if a default changes.
  .transform((model) => ({ ...model, preprocessing: modelPreprocessing(model) }))
  .describe('Backbone plus head');
export type ModelSpec = z.infer<typeof ModelSchema>;

export const OptimizerSchema = z.strictObject({
  name: z.enum(['rmsprop', 'adam', 'sgd']),
  learningRate: z.number().positive(),
});
export type OptimizerSpec = z.infer<typeof OptimizerSchema>;

export const LossSchema = z.enum(['categoricalCrossentropy', 'binaryCrossentropy']).default('categoricalCrossentropy');
export type LossName = z.infer<typeof LossSchema>;

export const EarlyStoppingSchema = z.strictObject({
  monitor: z.enum(['valLoss', 'valAccuracy']).default('valLoss'),
  patience: z.number().int().min(1).default(3),
  minDelta: z.number().min(0).default(0),
});

/** Early stopping as the trainer runs it (it can also watch the validation AUC). */
export interface EarlyStoppingSpec {
  monitor: z.infer<typeof EarlyStoppingSchema>['monitor'] | 'valAuc';
  patience: number;
  minDelta: number;
}

/** Everything the training loop needs besides the model and the data, class weights resolved to indices. */
export interface TrainSettings {
  optimizer: OptimizerSpec;
  loss: LossName;
  epochs: number;
  batchSize: number;
  seed: number;
  /** Loss weight per class index (missing: all 1); see `resolveClassWeights`. */
  classWeights?: number[];
  earlyStopping?: EarlyStoppingSpec;
  /** Multiplies the learning rate of the backbone's trained weights (`model.trainable.learningRateScale`). @default 1 */
  backboneLearningRateScale?: number;
}
