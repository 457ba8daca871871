import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { PipelineSpecError } from '../../common/errors.ts';
import type { FeatureEngineName, FeatureEnginePreference, TrainSettings } from '../../common/model-spec.ts';
import { selectFeatureEngine, type FeatureEngine, type SkippedFeatureEngine } from '../features/feature-engine.ts';
import type { OrtProvider } from '../features/onnx/ort-session-options.ts';
import type { BatchSource } from '../data/batch-source.ts';
import { captureCheckpoint, restoreCheckpoint } from './checkpoint-codec.ts';
import type { CheckpointStore, EpochLog } from './checkpoint-store.ts';
import type { FeatureCache } from '../features/feature-cache.ts';
import { computeFeatureStage, type FeatureStage } from '../features/feature-stage.ts';
import { lossTargets } from './loss-targets.ts';
import type { BuiltModel } from './model-builder.ts';
import { createModelPasses } from './model-passes.ts';
import { createOptimizer } from './optimizers.ts';
import { optimizerStep, runTrainingLoop, type TrainProgress } from './training-loop.ts';
import { freshTrainingState, hasEpochsLeft } from './training-state.ts';
import { evaluate } from './validation.ts';

/**
 * Fitting a built model: checks the options, restores the latest checkpoint, runs the feature
 * stage when the backbone is frozen (feature-stage.ts) and then the training loop
 * (training-loop.ts) over a resumable state (training-state.ts). Not the `trainModel` activity
 * (activities/steps/train.ts via train-step.ts), which loads data and models and stores what this returns.
 */

export type { EpochLog } from './checkpoint-store.ts';
export type { TrainProgress } from './training-loop.ts';

export interface TrainOptions {
  built: BuiltModel;
  settings: TrainSettings;
  /** Batches with one-hot labels [batch, classes]. */
  train: BatchSource;
  validation?: BatchSource;
  /** Where epoch checkpoints go; training resumes from the latest one found there. */
  checkpoints?: CheckpointStore;
  /**
   * Also checkpoint every N batches inside an epoch; a resume skips the batches already trained
   * and continues bit-identically. Absent: only after each epoch.
   */
  checkpointEveryBatches?: number;
  onProgress?: (progress: TrainProgress) => void | Promise<void>;
  /** Checked between batches; training stops with the signal's reason, keeping the last checkpoint. */
  signal?: AbortSignal;
  /** Recorded in checkpoints. */
  engineName?: string;
  /**
   * Compute backbone features once (first pass over `train`, epoch 0's batches) and train the
   * head on them, re-batched by `settings.batchSize` and shuffled per epoch.
   * @default built.frozenBackbone
   */
  cacheFeatures?: boolean;
  /**
   * Run a frozen backbone with batch-norm folded into its convolutions (features agree with the
   * unfolded model to ~2e-5 relative).
   * @default true
   */
  foldBatchNorm?: boolean;
  /**
   * Worker threads (each its own wasm engine) that compute the cached features; 1 computes them
   * in this thread with the active engine. Only for the CPU engines: Node runs wasm on one core.
   * @default 1
   */
  featureWorkers?: number;
  /**
   * The feature engine: what computes the cached features (features/feature-engine.ts). `auto`
   * uses ONNX Runtime when the backbone converts and the runtime loads, else the tfjs engine.
   * No default here: the train kind's schema has the one default, the step passes it on.
   */
  featureEngine: FeatureEnginePreference;
  /** ONNX Runtime execution provider (see `FeatureEngineOptions.provider`). */
  featureProvider?: OrtProvider;
  /** Called once the feature engine is chosen, before any feature is computed (logs). */
  onFeatureEngine?: (engine: Pick<FeatureEngine, 'engine' | 'device' | 'skipped'>) => void;
  /**
   * Distinct passes of `train` whose features are cached (`train.batches(view, seed)` for view
   * 0..views−1); epoch e trains on view e mod views. More than 1 only makes sense for an
   * augmenting source: a frozen backbone then sees a fixed set of augmented copies per image.
   * Ignored when features are not cached (each epoch's batches are then augmented afresh).
   * @default 1
   */
  featureViews?: number;
  /**
   * Persists cached features between runs, keyed by backbone identity and each example's key
   * (sources without `exampleKeys` are computed every run). Batches whose features are all
   * stored are read instead of computed.
   */
  featureCache?: FeatureCache;
}

export interface TrainResult {
  /** One entry per epoch, including epochs run before a resume. */
  history: EpochLog[];
  stoppedEarly: boolean;
  /** Epochs already done when this call started (0 for a fresh run). */
  resumedFromEpoch: number;
  /** sha256 of the trainable weights' bytes: equal hashes mean bit-identical training. */
  trainableWeightsSha256: string;
  /** Seconds spent computing cached backbone features (0 when not cached). */
  featureSeconds: number;
  /** Feature vectors read from `featureCache` (train views plus validation). */
  featuresReused: number;
  /** Feature vectors computed by the backbone this run. */
  featuresComputed: number;
  /** What computed (or identified, when all were cached) the features; `none` when they were not cached. */
  featureEngine: FeatureEngineName | 'none';
  /** Where the feature engine ran (provider and threads, or tfjs engine); empty when none. */
  featureDevice: string;
  /** Feature engines passed over, and why. */
  featureEngineSkipped: SkippedFeatureEngine[];
}


/** The tf.Variables behind layer weights, in the model's order (the optimizer's slot order). */
function variablesOf(weights: tfl.LayerVariable[]): tf.Variable[] {
  return weights.map((weight) => {
    const variable = tf.engine().registeredVariables[weight.name];
    if (!variable) throw new Error(`Weight ${weight.name} has no registered variable`);
    return variable;
  });
}

/** sha256 of weights' bytes in order (of `model.trainableWeights`: what `trainableWeightsSha256` reports). */
export async function sha256Of(weights: tfl.LayerVariable[]): Promise<string> {
  const hash = createHash('sha256');
  for (const weight of weights) {
    const data = await weight.read().data();
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

/** Learning-rate multipliers of the backbone's trained weights, by variable name (none at scale 1). */
function backboneScales(built: BuiltModel, scale: number): Map<string, number> {
  return new Map(scale === 1 ? [] : built.backbone.trainableWeights.map((weight) => [weight.name, scale] as const));
}

/** Options a run cannot train with, refused before anything is computed. */
function checkOptions(options: TrainOptions, cache: boolean, featureViews: number): void {
  const early = options.settings.earlyStopping;
  if (early && !options.validation) throw new PipelineSpecError(`Train model failed: earlyStopping monitors ${early.monitor} but the step has no validation data`);
  const every = options.checkpointEveryBatches;
  if (every !== undefined && (!Number.isInteger(every) || every < 1)) throw new PipelineSpecError(`Train model failed: checkpointEveryBatches must be a whole number ≥ 1, got ${every}`);
  if (!Number.isInteger(featureViews) || featureViews < 1) throw new PipelineSpecError(`Train model failed: featureViews must be a whole number ≥ 1, got ${featureViews}`);
  if (cache && !options.built.frozenBackbone) throw new PipelineSpecError('Train model failed: features can only be cached for a frozen backbone');
}

/**
 * Trains a built model: seeded, resumable from epoch checkpoints, heads trained on cached
 * backbone features when the backbone is frozen. The model's weights are updated in place.
 */
export async function fitModel(options: TrainOptions): Promise<TrainResult> {
  const { built, settings, checkpoints } = options;
  const { seed, epochs } = settings;
  const cache = options.cacheFeatures ?? built.frozenBackbone;
  const featureViews = options.featureViews ?? 1;
  checkOptions(options, cache, featureViews);

  const optimizer = createOptimizer(settings.optimizer, backboneScales(built, settings.backboneLearningRateScale ?? 1));
  const classWeights = settings.classWeights ? tf.tensor1d(settings.classWeights) : undefined;
  const targetsOf = lossTargets(built.outputUnits, classWeights);
  // What a checkpoint must hold to continue exactly: the head alone when nothing else trains.
  const checkpointWeights = built.frozenBackbone ? built.head.weights : built.model.weights;
  const trainable = variablesOf(built.model.trainableWeights);
  const passes = createModelPasses(built, { cached: cache, foldBatchNorm: options.foldBatchNorm !== false });
  let features: FeatureStage | undefined;
  let featureEngine: FeatureEngine | undefined;

  try {
    let state = freshTrainingState(seed, options.engineName ?? tf.getBackend());
    const resumed = await checkpoints?.latest();
    if (resumed) {
      await restoreCheckpoint(resumed, checkpointWeights, optimizer);
      state = resumed.state;
    }
    const resumedFromEpoch = state.epoch;

    if (cache && hasEpochsLeft(state, epochs)) {
      featureEngine = await selectFeatureEngine({
        preference: options.featureEngine,
        backbone: built.backbone,
        passes,
        // The training engine of the first attempt, kept by the checkpoint: a resume reads its features.
        trainingEngine: state.engine,
        workers: options.featureWorkers ?? 1,
        ...(options.featureProvider ? { provider: options.featureProvider } : {}),
      });
      options.onFeatureEngine?.(featureEngine);
      features = await computeFeatureStage({
        backbone: built.backbone,
        train: options.train,
        validation: options.validation,
        seed,
        batchSize: settings.batchSize,
        views: featureViews,
        featureCache: options.featureCache,
        features: featureEngine,
      });
    }
    const validation = features ? features.validation : options.validation;

    state = await runTrainingLoop({
      state,
      epochs,
      seed,
      train: features?.train ?? options.train,
      validation,
      batchSize: settings.batchSize,
      step: optimizerStep({ passes, targetsOf, loss: settings.loss, optimizer, trainable }),
      validate: (source) => evaluate(passes.predict, targetsOf, settings.loss, source, seed),
      earlyStopping: settings.earlyStopping,
      checkpoints,
      checkpointEveryBatches: options.checkpointEveryBatches,
      capture: (current) => captureCheckpoint(current, checkpointWeights, optimizer),
      onProgress: options.onProgress,
      signal: options.signal,
    });

    return {
      history: state.history,
      stoppedEarly: state.earlyStopping.stopped,
      resumedFromEpoch,
      trainableWeightsSha256: await sha256Of(built.model.trainableWeights),
      featureSeconds: features?.seconds ?? 0,
      featuresReused: features?.reused ?? 0,
      featuresComputed: features?.computed ?? 0,
      featureEngine: featureEngine?.engine ?? 'none',
      featureDevice: featureEngine?.device ?? '',
      featureEngineSkipped: featureEngine?.skipped ?? [],
    };
  } finally {
    features?.dispose();
    passes.dispose();
    classWeights?.dispose();
    optimizer.dispose();
  }
}
