import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { PipelineSpecError, TrainingDivergedError } from '../../common/errors.ts';
import type { EarlyStoppingSpec, TrainSettings } from '../../common/model-spec.ts';
import { tensorSource, type Batch, type BatchSource } from './batch-source.ts';
import type { Checkpoint, CheckpointState, CheckpointStore, EpochLog } from './checkpoint-store.ts';
import { lossValue, positiveScore, predictedClass, rocAuc } from './losses.ts';
import type { BuiltModel } from './model-builder.ts';
import { createFeaturePool, type PoolingKind } from '../engine/feature-pool.ts';
import { foldedInference } from './folded-inference.ts';
import { createOptimizer } from './optimizers.ts';
import type { FeatureCache } from './feature-cache.ts';

export type { EpochLog } from './checkpoint-store.ts';

/** Progress reported while training: after every batch, and after every epoch's checkpoint. */
export type TrainProgress =
  | { kind: 'batch'; epoch: number; batch: number; loss: number; checkpoint?: string }
  | { kind: 'epoch'; epoch: number; log: EpochLog; checkpoint?: string };

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
}

const RateSchema = z.object({ rate: z.number() });

/** `layer.apply` on a concrete tensor, checked. */
function applyLayer(layer: tfl.layers.Layer, x: tf.Tensor, training: boolean): tf.Tensor {
  const out = layer.apply(x, { training });
  if (!(out instanceof tf.Tensor)) throw new Error(`Layer ${layer.name} did not return one tensor`);
  return out;
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

/** Where one pass's features persist: the cache, the backbone's identity, the pass's example keys. */
interface PersistedPass {
  cache: FeatureCache;
  backboneHash: string;
  keys: string[];
}

/** Counts of one pass's feature vectors: read from the persistent cache, or computed. */
interface FeatureCounts {
  reused: number;
  computed: number;
}

/**
 * Runs the backbone and the head's weightless pooling layers over one pass of `source` and
 * keeps the result and the labels in memory (pooled: 768 floats per image for MobileNet + GAP).
 * With `persisted`, a batch whose rows are all stored is read back instead (the same bytes the
 * backbone gave when they were written); other batches are computed and their missing rows stored.
 */
async function extractFeatures(
  extract: (x: tf.Tensor) => Promise<tf.Tensor>,
  source: BatchSource,
  seed: number,
  view = 0,
  persisted?: PersistedPass,
  counts: FeatureCounts = { reused: 0, computed: 0 },
): Promise<{ x: tf.Tensor; y: tf.Tensor }> {
  const xs: tf.Tensor[] = [];
  const ys: tf.Tensor[] = [];
  const keys = persisted?.keys.map((key) => `${persisted.backboneHash}/${key}`);
  const stored = persisted && keys ? await persisted.cache.get(keys) : [];
  const writes: Promise<void>[] = [];
  let offset = 0;
  try {
    for await (const batch of source.batches(view, seed)) {
      const n = batch.x.shape[0] ?? 0;
      const rows = stored.slice(offset, offset + n);
      const first = rows[0];
      if (persisted && first && rows.length === n && rows.every((row) => row !== undefined)) {
        const values = new Float32Array(n * first.values.length);
        rows.forEach((row, i) => values.set(row.values, i * first.values.length));
        xs.push(tf.tensor(values, [n, ...first.shape], 'float32'));
        counts.reused += n;
      } else {
        const features = await extract(batch.x);
        xs.push(features);
        counts.computed += n;
        if (persisted && keys) {
          // Reading the rows back also lets the event loop run (heartbeats) between batches.
          const data = await features.data();
          const width = data.length / Math.max(n, 1);
          const shape = features.shape.slice(1);
          const entries = [];
          for (let i = 0; i < n; i++) {
            const key = keys[offset + i];
            if (key !== undefined && stored[offset + i] === undefined) entries.push({ key, row: { shape, values: Float32Array.from(data.subarray(i * width, (i + 1) * width)) } });
          }
          writes.push(persisted.cache.put(entries));
        } else {
          await features.data();
        }
      }
      ys.push(batch.y);
      batch.x.dispose();
      offset += n;
    }
    await Promise.all(writes);
    return { x: tf.concat(xs), y: tf.concat(ys) };
  } finally {
    await Promise.allSettled(writes);
    tf.dispose([...xs, ...ys]);
  }
}

/**
 * Identity of the features a frozen backbone gives: its architecture (feature layer, input size)
 * and weight bytes, plus how they are computed (folding, pooling, engine: each changes the bits).
 */
async function backboneIdentity(backbone: tfl.LayersModel, how: Record<string, unknown>): Promise<string> {
  const hash = createHash('sha256');
  // Layer configs without their names: auto-generated names (conv2d_7) differ between loads.
  const layers = backbone.layers.map((layer) => {
    const { name: _name, ...config } = layer.getConfig();
    return { className: layer.getClassName(), config };
  });
  hash.update(JSON.stringify({ layers, outputShape: backbone.outputShape }));
  hash.update(JSON.stringify(how));
  for (const weight of backbone.weights) {
    const data = await weight.read().data();
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

/** Epoch e of the result is epoch e of source e mod n: one cached augmented view per epoch. */
function viewPerEpoch(sources: BatchSource[]): BatchSource {
  const [first] = sources;
  if (!first) throw new Error('Cached features need at least one view');
  if (sources.length === 1) return first;
  return {
    size: first.size,
    batches: (epoch, seed) => (sources[epoch % sources.length] ?? first).batches(epoch, seed),
  };
}

interface Evaluation {
  loss: number;
  accuracy: number;
  auc: number;
}

/** What one batch's labels become for the loss and the metrics. */
interface Targets {
  /** What the loss compares with the output: the one-hot labels, or their positive column for one sigmoid unit. */
  target: tf.Tensor;
  labels: tf.Tensor;
  sampleWeights?: tf.Tensor;
}

async function evaluate(
  predict: (x: tf.Tensor) => tf.Tensor,
  targetsOf: (y: tf.Tensor) => Targets,
  loss: TrainSettings['loss'],
  source: BatchSource,
  seed: number,
): Promise<Evaluation> {
  let lossSum = 0;
  let correct = 0;
  let count = 0;
  const labels: number[] = [];
  const scores: number[] = [];
  for await (const { x, y } of source.batches(0, seed)) {
    const [stats, label, score] = tf.tidy(() => {
      const probabilities = predict(x);
      const { target, labels: indices, sampleWeights } = targetsOf(y);
      const n = x.shape[0] ?? 0;
      return [
        tf.stack([tf.mul(lossValue(loss, target, probabilities, sampleWeights), n), correctCount(indices, probabilities)]),
        indices,
        positiveScore(probabilities),
      ];
    });
    const [batchLoss = 0, batchCorrect = 0] = await stats.data();
    lossSum += batchLoss;
    correct += batchCorrect;
    count += x.shape[0] ?? 0;
    labels.push(...(await label.data()));
    scores.push(...(await score.data()));
    tf.dispose([x, y, stats, label, score]);
  }
  return { loss: lossSum / Math.max(count, 1), accuracy: correct / Math.max(count, 1), auc: rocAuc(labels, scores) };
}

function correctCount(labels: tf.Tensor, probabilities: tf.Tensor): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.cast(labels, 'int32'), tf.cast(predictedClass(probabilities), 'int32')), 'float32'));
}

function monitored(log: EpochLog, monitor: EarlyStoppingSpec['monitor']): number | undefined {
  return monitor === 'valLoss' ? log.valLoss : monitor === 'valAccuracy' ? log.valAccuracy : log.valAuc;
}

function finiteOrUndefined(value: number): number | undefined {
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Trains a built model: seeded, resumable from epoch checkpoints, heads trained on cached
 * backbone features when the backbone is frozen. The model's weights are updated in place.
 */
export async function trainModel(options: TrainOptions): Promise<TrainResult> {
  const { built, settings, checkpoints, onProgress, signal } = options;
  const { seed, epochs } = settings;
  const early = settings.earlyStopping;
  if (early && !options.validation) throw new PipelineSpecError(`Train model failed: earlyStopping monitors ${early.monitor} but the step has no validation data`);
  const cache = options.cacheFeatures ?? built.frozenBackbone;
  const featureViews = options.featureViews ?? 1;
  const every = options.checkpointEveryBatches;
  if (every !== undefined && (!Number.isInteger(every) || every < 1)) throw new PipelineSpecError(`Train model failed: checkpointEveryBatches must be a whole number ≥ 1, got ${every}`);
  if (!Number.isInteger(featureViews) || featureViews < 1) throw new PipelineSpecError(`Train model failed: featureViews must be a whole number ≥ 1, got ${featureViews}`);
  if (cache && !built.frozenBackbone) throw new PipelineSpecError('Train model failed: features can only be cached for a frozen backbone');

  const optimizer = createOptimizer(settings.optimizer);
  const classWeights = settings.classWeights ? tf.tensor1d(settings.classWeights) : undefined;
  /** Loss targets from one-hot labels; a single sigmoid unit learns the positive (index 1) column. */
  const targetsOf = (y: tf.Tensor): Targets => ({
    target: built.outputUnits === 1 && y.shape[1] !== 1 ? tf.slice(y, [0, 1], [-1, 1]) : y,
    labels: y.shape[1] === 1 ? tf.cast(tf.greater(tf.squeeze(y, [1]), 0.5), 'int32') : tf.argMax(y, -1),
    ...(classWeights ? { sampleWeights: tf.sum(tf.mul(y, classWeights), -1) } : {}),
  });
  // What a checkpoint must hold to continue exactly: the head alone when nothing else trains.
  const checkpointWeights = built.frozenBackbone ? built.head.weights : built.model.weights;
  const trainable = variablesOf(built.model.trainableWeights);
  const dropoutRates = built.head.layers.map((layer) => (layer.getClassName() === 'Dropout' ? RateSchema.parse(layer.getConfig()).rate : undefined));
  const owned: tf.Tensor[] = [];
  // Batch-norm folded into the convolutions: the same features, 2-3x faster on wasm.
  const folded = built.frozenBackbone && options.foldBatchNorm !== false ? foldedInference(built.backbone) : undefined;

  try {
    let state: CheckpointState = {
      epoch: 0,
      history: [],
      rng: { seed },
      earlyStopping: { best: null, bestEpoch: 0, wait: 0, stopped: false },
      weightSpecs: [],
      optimizerSpecs: [],
      engine: options.engineName ?? tf.getBackend(),
    };
    const resumed = await checkpoints?.latest();
    if (resumed) {
      await restore(resumed, checkpointWeights, optimizer);
      state = resumed.state;
    }
    const resumedFromEpoch = state.epoch;

    // The head's leading weightless layers (flatten / global pooling) belong with the frozen
    // features: cached after them, every epoch skips them and the cache is smaller.
    const pooling = built.head.layers.findIndex((layer, i) => layer.weights.length > 0 || dropoutRates[i] !== undefined);
    const poolingCount = pooling === -1 ? built.head.layers.length : pooling;
    /** Head layers from `from` on; dropout (training only) is seeded per (seed, epoch, batch, layer). */
    const runHead = (h: tf.Tensor, from: number, dropoutSeed: string | undefined): tf.Tensor => {
      for (const [i, layer] of built.head.layers.entries()) {
        if (i < from) continue;
        const rate = dropoutRates[i];
        if (rate === undefined) h = applyLayer(layer, h, dropoutSeed !== undefined);
        else if (dropoutSeed !== undefined) h = tf.dropout(h, rate, undefined, `${dropoutSeed}:${i}`);
      }
      return h;
    };
    // A frozen backbone runs in inference mode (batch-norm uses its moving statistics and leaves
    // them alone, as in Keras) and outside the gradient tape, which would otherwise hold every
    // activation of the backbone until the backward pass.
    const frozenFeatures = (x: tf.Tensor): tf.Tensor => {
      let h = folded ? folded.run(x) : applyLayer(built.backbone, x, false);
      for (const layer of built.head.layers.slice(0, poolingCount)) h = applyLayer(layer, h, false);
      return h;
    };

    let featureSeconds = 0;
    const counts: FeatureCounts = { reused: 0, computed: 0 };
    let train = options.train;
    let validation = options.validation;
    if (cache && state.epoch < epochs && !state.earlyStopping.stopped) {
      const started = performance.now();
      const workers = options.featureWorkers ?? 1;
      const poolingKinds = built.head.layers.slice(0, poolingCount).map((layer): PoolingKind => (layer.getClassName() === 'Flatten' ? 'flatten' : 'globalAveragePooling'));
      // Started on the first batch that needs computing: a run that reads every feature from the cache spawns no workers.
      let pool: Awaited<ReturnType<typeof createFeaturePool>> | undefined;
      const extract = async (x: tf.Tensor): Promise<tf.Tensor> => {
        if (workers <= 1) return tf.tidy(() => frozenFeatures(x));
        pool ??= await createFeaturePool(built.backbone, { workers, pooling: poolingKinds });
        return pool.extract(x);
      };
      const featureCache = options.featureCache;
      const backboneHash = featureCache
        ? await backboneIdentity(built.backbone, { folded: folded !== undefined, pooling: poolingKinds, engine: state.engine, featureWorkers: workers > 1 })
        : undefined;
      const persisted = (source: BatchSource, view: number): PersistedPass | undefined =>
        featureCache && backboneHash && source.exampleKeys ? { cache: featureCache, backboneHash, keys: source.exampleKeys(view, seed) } : undefined;
      try {
        const views: BatchSource[] = [];
        for (let view = 0; view < featureViews; view++) {
          const features = await extractFeatures(extract, options.train, seed, view, persisted(options.train, view), counts);
          owned.push(features.x, features.y);
          views.push(tensorSource(features.x, features.y, { batchSize: settings.batchSize }));
        }
        train = viewPerEpoch(views);
        if (options.validation) {
          const val = await extractFeatures(extract, options.validation, seed, 0, persisted(options.validation, 0), counts);
          owned.push(val.x, val.y);
          validation = tensorSource(val.x, val.y, { batchSize: settings.batchSize, shuffle: false });
        }
      } finally {
        await pool?.close();
      }
      featureSeconds = (performance.now() - started) / 1000;
    }

    const headInput = (x: tf.Tensor): tf.Tensor => (cache ? x : built.frozenBackbone ? frozenFeatures(x) : x);
    const forwardTrain = (x: tf.Tensor, dropoutSeed: string): tf.Tensor =>
      built.frozenBackbone ? runHead(x, poolingCount, dropoutSeed) : runHead(applyLayer(built.backbone, x, true), 0, dropoutSeed);
    const predict = (x: tf.Tensor): tf.Tensor => (cache ? runHead(x, poolingCount, undefined) : applyLayer(built.model, x, false));

    const batchesPerEpoch = Math.ceil(train.size / settings.batchSize);
    for (let epochIndex = state.epoch; epochIndex < epochs && !state.earlyStopping.stopped; epochIndex++) {
      const epoch = epochIndex + 1;
      // A mid-epoch checkpoint: its batches are skipped (drawn, not trained) and its sums continue.
      const { partial, ...epochState } = state;
      state = epochState;
      const started = performance.now();
      const secondsBefore = partial?.seconds ?? 0;
      let lossSum = partial?.lossSum ?? 0;
      let correct = partial?.correct ?? 0;
      let count = partial?.count ?? 0;
      let batchIndex = 0;
      for await (const batch of train.batches(epochIndex, seed)) {
        if (batchIndex < (partial?.batches ?? 0)) {
          tf.dispose([batch.x, batch.y]);
          batchIndex++;
          continue;
        }
        signal?.throwIfAborted();
        const stats = step(batch, `${seed}:${epochIndex}:${batchIndex}`);
        const [loss = Number.NaN, batchCorrect = 0] = await stats.data();
        stats.dispose();
        if (!Number.isFinite(loss)) {
          throw new TrainingDivergedError(`Train model failed: loss is ${loss} at epoch ${epoch}, batch ${batchIndex + 1}; lower the learning rate`);
        }
        lossSum += loss * (batch.x.shape[0] ?? 0);
        correct += batchCorrect;
        count += batch.x.shape[0] ?? 0;
        tf.dispose([batch.x, batch.y]);
        batchIndex++;
        const due = checkpoints && every !== undefined && batchIndex % every === 0 && batchIndex < batchesPerEpoch;
        const inside = due ? { ...state, partial: { batches: batchIndex, lossSum, correct, count, seconds: secondsBefore + (performance.now() - started) / 1000 } } : undefined;
        const checkpoint = inside && checkpoints ? await checkpoints.save(await capture(inside, checkpointWeights, optimizer)) : undefined;
        await onProgress?.({ kind: 'batch', epoch, batch: batchIndex, loss, ...(checkpoint ? { checkpoint } : {}) });
      }
      const seconds = secondsBefore + (performance.now() - started) / 1000;
      const log: EpochLog = { epoch, loss: lossSum / Math.max(count, 1), accuracy: correct / Math.max(count, 1), seconds, examplesPerSecond: count / seconds };
      if (validation) {
        const val = await evaluate(predict, targetsOf, settings.loss, validation, seed);
        log.valLoss = val.loss;
        log.valAccuracy = val.accuracy;
        const auc = finiteOrUndefined(val.auc);
        if (auc !== undefined) log.valAuc = auc;
      }
      state = { ...state, epoch, history: [...state.history, log], earlyStopping: nextEarlyStopping(state.earlyStopping, log, early) };
      const checkpoint = checkpoints ? await checkpoints.save(await capture(state, checkpointWeights, optimizer)) : undefined;
      await onProgress?.({ kind: 'epoch', epoch, log, ...(checkpoint ? { checkpoint } : {}) });
    }

    return {
      history: state.history,
      stoppedEarly: state.earlyStopping.stopped,
      resumedFromEpoch,
      trainableWeightsSha256: await sha256Of(built.model.trainableWeights),
      featureSeconds,
      featuresReused: counts.reused,
      featuresComputed: counts.computed,
    };

    /** One optimizer step; returns [loss, correct] (the only readback per batch). */
    function step({ x, y }: Batch, dropoutSeed: string): tf.Tensor {
      return tf.tidy(() => {
        let correctInBatch: tf.Scalar | undefined;
        const input = headInput(x);
        const { value, grads } = tf.variableGrads(() => {
          const probabilities = forwardTrain(input, dropoutSeed);
          const { target, labels, sampleWeights } = targetsOf(y);
          correctInBatch = tf.keep(correctCount(labels, probabilities));
          return lossValue(settings.loss, target, probabilities, sampleWeights);
        }, trainable);
        optimizer.applyGradients(grads);
        const stats = tf.stack([value, correctInBatch ?? tf.scalar(0)]);
        correctInBatch?.dispose();
        return stats;
      });
    }
  } finally {
    tf.dispose(owned);
    folded?.dispose();
    classWeights?.dispose();
    optimizer.dispose();
  }
}

function nextEarlyStopping(
  current: CheckpointState['earlyStopping'],
  log: EpochLog,
  early: EarlyStoppingSpec | undefined,
): CheckpointState['earlyStopping'] {
  if (!early) return current;
  const value = monitored(log, early.monitor);
  if (value === undefined) return current;
  const sign = early.monitor === 'valLoss' ? -1 : 1;
  const improved = current.best === null || sign * (value - current.best) > early.minDelta;
  if (improved) return { best: value, bestEpoch: log.epoch, wait: 0, stopped: false };
  const wait = current.wait + 1;
  return { ...current, wait, stopped: wait >= early.patience };
}

/** Encodes the state, the weights a resume needs and the optimizer's slots. */
async function capture(state: CheckpointState, weights: tfl.LayerVariable[], optimizer: tf.Optimizer): Promise<Checkpoint> {
  const encodedWeights = await tf.io.encodeWeights(weights.map((w) => ({ name: w.name, tensor: w.read() })));
  const slots = await optimizer.getWeights();
  try {
    const encodedSlots = await tf.io.encodeWeights(slots);
    return {
      state: {
        ...state,
        weightSpecs: encodedWeights.specs.map(({ name, shape, dtype }) => ({ name, shape, dtype })),
        optimizerSpecs: encodedSlots.specs.map(({ name, shape, dtype }) => ({ name, shape, dtype })),
      },
      weights: new Uint8Array(tf.io.CompositeArrayBuffer.join(encodedWeights.data)),
      optimizer: new Uint8Array(tf.io.CompositeArrayBuffer.join(encodedSlots.data)),
    };
  } finally {
    // getWeights hands out the optimizer's own variables plus a fresh iteration count.
    tf.dispose(slots.map((slot) => slot.tensor).filter((tensor) => !(tensor instanceof tf.Variable)));
  }
}

function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/** Writes checkpointed weights (by position) and optimizer slots back. */
async function restore(checkpoint: Checkpoint, weights: tfl.LayerVariable[], optimizer: tf.Optimizer): Promise<void> {
  const { state } = checkpoint;
  if (state.weightSpecs.length !== weights.length) {
    throw new PipelineSpecError(`Resume training failed: checkpoint of epoch ${state.epoch} holds ${state.weightSpecs.length} weights, the model has ${weights.length}`);
  }
  const values = tf.io.decodeWeights(arrayBufferOf(checkpoint.weights), state.weightSpecs);
  const slots = tf.io.decodeWeights(arrayBufferOf(checkpoint.optimizer), state.optimizerSpecs);
  try {
    for (const [i, spec] of state.weightSpecs.entries()) {
      const weight = weights[i];
      const value = values[spec.name];
      if (!weight || !value || value.shape.join(',') !== weight.shape.join(',')) {
        throw new PipelineSpecError(`Resume training failed: checkpoint weight ${spec.name} does not fit ${weight?.name ?? 'the model'}`);
      }
      weight.write(value);
    }
    await optimizer.setWeights(state.optimizerSpecs.map(({ name }) => {
      const tensor = slots[name];
      if (!tensor) throw new PipelineSpecError(`Resume training failed: checkpoint lacks optimizer slot ${name}`);
      return { name, tensor };
    }));
  } finally {
    tf.dispose([...Object.values(values), ...Object.values(slots)]);
  }
}
