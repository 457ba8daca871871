import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { canonicalJson } from '../../common/canonical-json.ts';
import { EngineCapabilityError, PipelineSpecError } from '../../common/errors.ts';
import { backboneLearningRateScale } from '../../common/model-spec.ts';
import type { StepContext } from '../../common/step-activities.ts';
import type { TrainInput, TrainOutput } from '../../common/step-kinds/train.ts';
import { engineInfo, type TrainingEngine } from '../engine/engine.ts';
import type { ObjectStore } from '../object-store.ts';
import { augments, type AugmentationParams } from './augmentation.ts';
import { ObjectStoreCheckpointStore, checkpointPrefix, type CheckpointStore } from './checkpoint-store.ts';
import { resolveClassWeights } from './class-weights.ts';
import { ObjectStoreFeatureCache } from '../features/feature-cache.ts';
import { saveModelToStore } from '../model-io/layers-model-io.ts';
import { buildModel, loadBuiltModel, type BuiltModel } from './model-builder.ts';
import { loadTrainData } from './train-data.ts';
import { trainHeartbeater, type TrainHeartbeat } from './train-heartbeat.ts';
import { fitModel as fit, sha256Of, type TrainResult } from './trainer.ts';

/**
 * Where a train step's artifacts go, under its run prefix `runs/<workflowId>/<stepId>/`.
 * Checkpoints sit in a folder named by a hash of the step's inputs: every attempt of the step
 * (and a re-run of the same spec under the same workflow id) finds them, while a re-run whose
 * inputs changed starts fresh instead of resuming weights trained for another spec. Never the
 * run id or the attempt, which differ on every retry.
 */
export function trainStepKeys(context: Pick<StepContext, 'workflowId' | 'stepId' | 'runPrefix'>, input: TrainInput) {
  const inputsHash = createHash('sha256').update(canonicalJson(input)).digest('hex').slice(0, 16);
  return {
    /** The model folder (model.json + weights.bin); outputs name its model.json. */
    model: `${context.runPrefix}model`,
    history: `${context.runPrefix}history.json`,
    checkpoints: `${checkpointPrefix(context.workflowId, context.stepId)}/${inputsHash}`,
  };
}

/** What the step activity needs besides its input: a store, a training engine, somewhere to report to. */
export interface TrainStepDeps {
  store: ObjectStore;
  engine: TrainingEngine;
  log: { info(message: string, attrs?: Record<string, unknown>): void; warn(message: string, attrs?: Record<string, unknown>): void };
  heartbeat?: (details: TrainHeartbeat) => void;
  signal?: AbortSignal;
  /** Local folder for backbone weight downloads. @default the OS temp folder */
  scratchDir?: string;
  /** Called once per finished (checkpointed) epoch with its metrics, e.g. to log them to MLflow. */
  onEpoch?: (epoch: number, metrics: Record<string, number>) => Promise<void>;
}

/** The augmentation to apply, or undefined when it is absent or changes nothing. */
function activeAugmentation(input: TrainInput): AugmentationParams | undefined {
  return input.augmentation && augments(input.augmentation) ? input.augmentation : undefined;
}

/** Logs and heartbeats a resume: the trainer reads `latest()` once, at the start. */
function observedCheckpoints(store: CheckpointStore, onResume: (epoch: number) => void): CheckpointStore {
  return {
    save: (checkpoint) => store.save(checkpoint),
    async latest() {
      const checkpoint = await store.latest();
      if (checkpoint) onResume(checkpoint.state.epoch);
      return checkpoint;
    },
  };
}

/** An epoch's numbers without its bookkeeping (epoch, duration, throughput). */
function epochMetrics(log: object): Record<string, number> {
  const { epoch: _epoch, seconds: _seconds, examplesPerSecond: _rate, ...metrics } = log as Record<string, unknown>;
  return Object.fromEntries(Object.entries(metrics).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
}

function finalMetrics(result: TrainResult): Record<string, number> {
  const last = result.history.at(-1);
  if (!last) return {};
  const { epoch: _epoch, seconds: _seconds, examplesPerSecond: _rate, ...metrics } = last;
  return Object.fromEntries(Object.entries(metrics).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
}

async function buildOrWarmStart(input: TrainInput, deps: TrainStepDeps): Promise<BuiltModel> {
  const { store, engine } = deps;
  const options = { store, capabilities: engine.capabilities, engineName: engine.engine };
  if (input.mode === 'partial') {
    return buildModel(input.model, {
      ...options,
      seed: input.seed,
      log: deps.log,
      ...(deps.scratchDir ? { scratchDir: deps.scratchDir } : {}),
      ...(deps.signal ? { signal: deps.signal } : {}),
    });
  }
  if (input.warmStartFrom === undefined) throw new PipelineSpecError('Train model failed: mode: full needs warmStartFrom (the partial model key)');
  // Step outputs name keys in the worker's bucket; the model loader takes locations.
  const location = input.warmStartFrom.startsWith('s3://') ? input.warmStartFrom : `s3://${store.bucket}/${input.warmStartFrom}`;
  return loadBuiltModel(location, input.model, options);
}

/**
 * Runs one train step: reads the splits, builds (partial) or warm-starts (full) the model,
 * trains with a checkpoint after every epoch, resuming from the latest checkpoint of this
 * workflow's step, and stores the model (TF.js layers format) and the history JSON.
 */
export async function runTrainStep(input: TrainInput, context: StepContext, deps: TrainStepDeps): Promise<TrainOutput> {
  const { store, engine, log } = deps;
  if (input.engine !== 'auto' && input.engine !== engine.engine) {
    throw new EngineCapabilityError(
      `Train model failed: step "${context.stepId}" asks for engine ${input.engine}, but this worker runs ${engine.engine} (set MLP_ENGINE or route the step to another queue)`,
    );
  }
  const keys = trainStepKeys(context, input);

  const heartbeater = trainHeartbeater(deps.heartbeat ?? (() => {}), { epochs: input.epochs });
  let built: BuiltModel | undefined;
  try {
    const augmentation = activeAugmentation(input);
    const data = await loadTrainData(
      store,
      { train: input.trainManifest, val: input.valManifest },
      { model: input.model, batchSize: input.batchSize, ...(augmentation ? { augmentation } : {}) },
    );
    heartbeater.loaded(Math.ceil(data.trainImages / input.batchSize));
    built = await buildOrWarmStart(input, deps);
    // Before any checkpoint is restored: for mode: full, the partial run's final weights.
    const initialWeightsSha256 = await sha256Of(built.model.trainableWeights);
    const units = built.outputUnits;
    if (units !== data.classes.length && !(units === 1 && data.classes.length === 2)) {
      throw new PipelineSpecError(`Train model failed: the classifier has ${units} units but ${input.trainManifest} has ${data.classes.length} classes (${data.classes.join(', ')})`);
    }
    const classWeights = resolveClassWeights(input.classWeights, data.classes, data.classCounts);
    const checkpoints = observedCheckpoints(new ObjectStoreCheckpointStore(store, keys.checkpoints), (epoch) => {
      log.info('Resuming training from checkpoint', { stepId: context.stepId, epoch, checkpoints: keys.checkpoints });
      heartbeater.resumed(epoch);
    });
    const result = await fit({
      built,
      settings: {
        optimizer: input.optimizer,
        loss: input.loss,
        epochs: input.epochs,
        batchSize: input.batchSize,
        seed: input.seed,
        ...(classWeights ? { classWeights } : {}),
        ...(input.earlyStopping ? { earlyStopping: input.earlyStopping } : {}),
        backboneLearningRateScale: backboneLearningRateScale(input.model.trainable),
      },
      train: data.train,
      ...(data.validation ? { validation: data.validation } : {}),
      checkpoints,
      ...(input.checkpointEveryBatches !== undefined ? { checkpointEveryBatches: input.checkpointEveryBatches } : {}),
      onProgress: async (progress) => {
        if (progress.kind === 'epoch') {
          log.info('Epoch finished', { stepId: context.stepId, ...progress.log, checkpoint: progress.checkpoint });
          await deps.onEpoch?.(progress.epoch, epochMetrics(progress.log));
        }
        return heartbeater.report(progress);
      },
      ...(deps.signal ? { signal: deps.signal } : {}),
      engineName: engine.engine,
      // Node runs wasm on one thread: worker threads put the other cores to work on features (when tfjs computes them).
      featureWorkers: engine.engine === 'wasm' ? availableParallelism() : 1,
      featureEngine: input.featureEngine,
      onFeatureEngine: ({ engine: featureEngine, device, skipped }) => {
        log.info('Feature engine selected', { stepId: context.stepId, featureEngine, featureDevice: device, skipped });
      },
      // A frozen backbone's features are cached, so augmentation there is a fixed set of views.
      featureViews: augmentation ? (input.augmentation?.views ?? 1) : 1,
      // Features persist under features/<backbone hash>/…: a re-run or the full run reuses them.
      featureCache: new ObjectStoreFeatureCache(store),
    });

    // Evaluation and serving read how to feed the model from model.json (TF.js user metadata).
    built.model.setUserDefinedMetadata({
      classes: data.classes,
      backbone: input.model.backbone,
      inputSize: input.model.inputSize,
      preprocessing: input.model.preprocessing,
    });
    const modelJson = await saveModelToStore(store, keys.model, built.model);
    const info = engineInfo(engine);
    await store.putJson(keys.history, {
      history: result.history,
      classes: data.classes,
      seed: input.seed,
      engine: info.engine,
      backend: info.backend,
      device: info.device,
      featureEngine: result.featureEngine,
      featureDevice: result.featureDevice,
      resumedFromEpoch: result.resumedFromEpoch,
      stoppedEarly: result.stoppedEarly,
      weightsSha256: result.trainableWeightsSha256,
    });
    const seconds = result.history.reduce((sum, epoch) => sum + epoch.seconds, 0);
    const epochs = result.history.length;
    // Throughput of the whole fit: with a frozen backbone, epochs after the features are cached take milliseconds.
    const fitSeconds = seconds + result.featureSeconds;
    return {
      model: modelJson,
      history: keys.history,
      classes: data.classes,
      engine: info.engine,
      backend: info.backend,
      device: info.device,
      epochs,
      secondsPerEpoch: epochs > 0 ? seconds / epochs : 0,
      imagesPerSecond: fitSeconds > 0 ? (data.trainImages * epochs) / fitSeconds : 0,
      finalMetrics: finalMetrics(result),
      weightsSha256: result.trainableWeightsSha256,
      initialWeightsSha256,
      resumedFromEpoch: result.resumedFromEpoch,
      stoppedEarly: result.stoppedEarly,
      seed: input.seed,
      checkpoints: keys.checkpoints,
      trainImages: data.trainImages,
      valImages: data.valImages,
      featureSeconds: result.featureSeconds,
      featuresReused: result.featuresReused,
      featuresComputed: result.featuresComputed,
      featureEngine: result.featureEngine,
      featureDevice: result.featureDevice,
      featureEngineSkipped: result.featureEngineSkipped,
    };
  } finally {
    built?.model.dispose();
  }
}
