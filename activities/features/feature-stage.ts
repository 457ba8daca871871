import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { startOnFirstUse, type FeatureEngine } from './feature-engine.ts';
import { overlapped } from './overlapped.ts';
import { KeyedTurns } from './keyed-turns.ts';
import { tensorSource, type Batch, type BatchSource } from '../data/batch-source.ts';
import type { FeatureCache } from './feature-cache.ts';

/**
 * The feature stage of training a head on a frozen backbone: the backbone runs once over the
 * training data (once per augmented view) and the validation data, not once per epoch, and
 * every epoch then trains on the features held in memory. Features come from the persistent
 * cache when stored, else from the selected feature engine (feature-engine.ts: ONNX
 * Runtime on a worker thread, or tfjs in this thread or on a pool of worker threads).
 */

export interface FeatureStageOptions {
  backbone: tfl.LayersModel;
  train: BatchSource;
  validation?: BatchSource;
  seed: number;
  /** Batch size of the in-memory sources the stage returns. */
  batchSize: number;
  /** Distinct passes of `train` to compute (see `TrainOptions.featureViews`). */
  views: number;
  featureCache?: FeatureCache;
  /** What computes the features (started on the first batch not in the cache); its `identity` is part of theirs in the cache. */
  features: FeatureEngine;
}

export interface FeatureStage {
  /** Epoch e yields view e mod views, re-batched and shuffled per epoch. */
  train: BatchSource;
  validation?: BatchSource;
  seconds: number;
  /** Feature vectors read from the persistent cache (train views plus validation). */
  reused: number;
  /** Feature vectors computed by the backbone. */
  computed: number;
  /** Frees the features; the sources above are unusable afterwards. */
  dispose(): void;
}

/** Where one pass's features persist: the cache, the backbone's identity, the pass's example keys. */
interface PersistedPass {
  cache: FeatureCache;
  backboneHash: string;
  keys: string[];
}

/** Passes being computed in this process, by identity (see `extractFeatures`). */
const passTurns = new KeyedTurns();

/** Counts of feature vectors: read from the persistent cache, or computed. */
interface FeatureCounts {
  reused: number;
  computed: number;
}

/** Computes (or reads) every feature the epochs will train on. */
export async function computeFeatureStage(options: FeatureStageOptions): Promise<FeatureStage> {
  const { seed, batchSize, featureCache, features: engine } = options;
  const started = performance.now();
  const counts: FeatureCounts = { reused: 0, computed: 0 };
  const owned: tf.Tensor[] = [];
  // Started on the first batch that needs computing: a run that reads every feature from the cache spawns no workers.
  const extractor = startOnFirstUse(engine);
  const extract = (x: tf.Tensor): Promise<tf.Tensor> => extractor.extract(x);
  const backboneHash = featureCache ? await backboneIdentity(options.backbone, engine.identity) : undefined;
  const persisted = (source: BatchSource, view: number): PersistedPass | undefined =>
    featureCache && backboneHash && source.exampleKeys ? { cache: featureCache, backboneHash, keys: source.exampleKeys(view, seed) } : undefined;
  const views: BatchSource[] = [];
  let train: BatchSource;
  let validation: BatchSource | undefined;
  try {
    for (let view = 0; view < options.views; view++) {
      const features = await extractFeatures(extract, options.train, seed, view, persisted(options.train, view), counts);
      owned.push(features.x, features.y);
      views.push(tensorSource(features.x, features.y, { batchSize }));
    }
    train = viewPerEpoch(views);
    if (options.validation) {
      const val = await extractFeatures(extract, options.validation, seed, 0, persisted(options.validation, 0), counts);
      owned.push(val.x, val.y);
      validation = tensorSource(val.x, val.y, { batchSize, shuffle: false });
    }
  } catch (error) {
    tf.dispose(owned);
    throw error;
  } finally {
    await extractor.close();
  }
  return {
    train,
    ...(validation ? { validation } : {}),
    seconds: (performance.now() - started) / 1000,
    reused: counts.reused,
    computed: counts.computed,
    dispose: () => tf.dispose(owned),
  };
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
  view: number,
  persisted: PersistedPass | undefined,
  counts: FeatureCounts,
): Promise<{ x: tf.Tensor; y: tf.Tensor }> {
  const keys = persisted?.keys.map((key) => `${persisted.backboneHash}/${key}`);
  if (!persisted || !keys) return extractPass(extract, source, seed, view, undefined, undefined, counts);
  // The pass's identity: its backbone and its examples, in order. A concurrent trial computing
  // the same pass holds the turn; this one then reads what that one stored.
  const pass = createHash('sha256').update(keys.join('\n')).digest('hex');
  return passTurns.run(pass, () => extractPass(extract, source, seed, view, persisted, keys, counts));
}

/** One pass, as `extractFeatures` describes, once it holds the pass's turn. */
async function extractPass(
  extract: (x: tf.Tensor) => Promise<tf.Tensor>,
  source: BatchSource,
  seed: number,
  view: number,
  persisted: PersistedPass | undefined,
  keys: string[] | undefined,
  counts: FeatureCounts,
): Promise<{ x: tf.Tensor; y: tf.Tensor }> {
  const xs: tf.Tensor[] = [];
  const ys: tf.Tensor[] = [];
  const stored = persisted && keys ? await persisted.cache.get(keys) : [];
  const writes: Promise<void>[] = [];
  let offset = 0;
  // A batch's place in the pass and whether its rows came from the cache, fixed when it starts.
  interface Started {
    features: tf.Tensor;
    offset: number;
    computed: boolean;
  }
  try {
    await overlapped<Batch, Started>(source.batches(view, seed), {
      async start(batch) {
        const n = batch.x.shape[0] ?? 0;
        const at = offset;
        offset += n;
        const rows = stored.slice(at, at + n);
        const first = rows[0];
        if (persisted && first && rows.length === n && rows.every((row) => row !== undefined)) {
          const values = new Float32Array(n * first.values.length);
          rows.forEach((row, i) => values.set(row.values, i * first.values.length));
          return { features: tf.tensor(values, [n, ...first.shape], 'float32'), offset: at, computed: false };
        }
        return { features: await extract(batch.x), offset: at, computed: true };
      },
      async finish(batch, { features, offset: at, computed }) {
        const n = batch.x.shape[0] ?? 0;
        xs.push(features);
        ys.push(batch.y);
        batch.x.dispose();
        if (!computed) {
          counts.reused += n;
          return;
        }
        counts.computed += n;
        // Reading the rows back also lets the event loop run (heartbeats) between batches.
        const data = await features.data();
        if (!persisted || !keys) return;
        const width = data.length / Math.max(n, 1);
        const shape = features.shape.slice(1);
        const entries = [];
        for (let i = 0; i < n; i++) {
          const key = keys[at + i];
          if (key !== undefined && stored[at + i] === undefined) entries.push({ key, row: { shape, values: Float32Array.from(data.subarray(i * width, (i + 1) * width)) } });
        }
        writes.push(persisted.cache.put(entries));
      },
      discard(batch, { features }) {
        tf.dispose([features, batch.x, batch.y]);
      },
    });
    await Promise.all(writes);
    return { x: tf.concat(xs), y: tf.concat(ys) };
  } finally {
    await Promise.allSettled(writes);
    tf.dispose([...xs, ...ys]);
  }
}

/**
 * Identity of the features a frozen backbone gives: its architecture (feature layer, input size)
 * and weight bytes, plus how they are computed (the feature engine's `identity`: folding,
 * pooling, training engine or ONNX Runtime; each changes the bits).
 *
 * ONNX Runtime and tfjs features do not share entries. They agree within 1e-4 (parity tests) but
 * not bit for bit, and the cache promises the bytes the backbone gave: a step's trained weights
 * (`weightsSha256`) are meant to be a function of its inputs and engines. Shared entries would
 * make them depend on which feature engine happened to fill the cache first. The cost is one
 * recomputation of features cached by the other feature engine, at ONNX Runtime's speed. ONNX Runtime's
 * identity names its execution provider (CUDA rounds differently from CPU) but not the training
 * engine, so CPU and GPU workers running it on CPU share entries.
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
