import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { EngineCapabilityError } from '../../common/errors.ts';
import type { FeatureEngineName, FeatureEnginePreference } from '../../common/model-spec.ts';
import { buildBackboneGraph, UnsupportedLayerError, type BackboneGraph } from './onnx/backbone-graph.ts';
import { measureCoreLoad } from './onnx/free-cores.ts';
import { startOrtExtractor } from './onnx/ort-extractor.ts';
import { ortVersion, providerAvailability } from './onnx/ort-providers.ts';
import { CPU_IMAGES_PER_RUN, describeOrtSettings, type OrtProvider, type OrtSettings } from './onnx/ort-session-options.ts';
import { createFeaturePool } from './feature-pool.ts';
import type { PoolingKind } from './pooling.ts';

/**
 * The feature engine: what computes a frozen backbone's features (the head always trains in tfjs). ONNX
 * Runtime runs the same backbone 4-6x faster on 2 CPU cores than tfjs wasm (bench/features.ts), so
 * `auto` picks it whenever the backbone converts to an ONNX graph and the runtime loads; every
 * engine passed over is reported with the reason, as `selectEngine` does for training engines.
 */

/** A feature engine (or execution provider) that was not chosen, and why. */
export interface SkippedFeatureEngine {
  engine: string;
  reason: string;
}

/** Computes features of image batches; started once the first batch needs computing. */
export interface FeatureExtractor {
  /** Features of a batch of NHWC images after the backbone and the head's pooling layers. */
  extract(x: tf.Tensor): Promise<tf.Tensor>;
  close(): Promise<void>;
}

export interface FeatureEngine {
  engine: FeatureEngineName;
  /**
   * Where it runs: the tfjs engine and its threads, or the ONNX Runtime provider and session
   * settings. ONNX Runtime on CPU settles its threads when `start` runs (the cores free then), so
   * read it after the features are computed to record what ran.
   */
  device: string;
  skipped: SkippedFeatureEngine[];
  /** ONNX Runtime only: the session settings (`device` says them in words; settled by `start` as `device` is). */
  ortSettings?: OrtSettings;
  /** How the features are computed besides the backbone's weights: part of their identity in the feature cache. */
  identity: Record<string, unknown>;
  /** Starts the extractor (worker threads, a session): called on the first batch that needs computing. */
  start(): Promise<FeatureExtractor>;
  /** Frees what selection started and `start` never handed out (a GPU session checked up front). */
  release(): Promise<void>;
}

export interface FeatureEngineOptions {
  preference: FeatureEnginePreference;
  backbone: tfl.LayersModel;
  /** The frozen pass on the training engine (tfjs) and what it is made of. */
  passes: { poolingKinds: PoolingKind[]; folded: boolean; frozenFeatures(x: tf.Tensor): tf.Tensor };
  /** The training engine: tfjs features run on it, and they are identified by it in the cache. */
  trainingEngine: string;
  /** tfjs only: worker threads, each its own wasm engine; 1 computes in this thread. */
  workers: number;
  /**
   * ONNX Runtime execution provider. Default: CUDA on a GPU training engine when its libraries
   * are installed, else CPU. `webgpu` is an experiment (bundled with onnxruntime-node).
   */
  provider?: OrtProvider;
  /** Fixed session settings instead of measured ones (benchmarks). */
  ortSettings?: Partial<Omit<OrtSettings, 'provider'>>;
}

/**
 * An extractor of `engine` that starts on the first batch (a pass read wholly from the cache
 * starts no worker or session) and, on `close`, closes what started and releases the feature engine.
 * The start promise is shared, not its result: a second batch arriving while the first one's
 * start is under way must not start a second extractor (it leaked a worker thread).
 */
export function startOnFirstUse(engine: FeatureEngine): FeatureExtractor {
  let started: Promise<FeatureExtractor> | undefined;
  return {
    async extract(x) {
      started ??= engine.start();
      return (await started).extract(x);
    },
    async close() {
      // A start that failed has nothing to close; its error went to the batch that asked for it.
      await started?.then((extractor) => extractor.close(), () => {});
      await engine.release();
    },
  };
}

/** Training engines that run the backbone on a GPU: ORT on CPU would be slower there. */
const GPU_TRAINING_ENGINES = new Set(['webgpu', 'tfjs-node-gpu']);

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The tfjs engine the process trains on: in this thread, or on wasm worker threads. */
export function tfjsFeatureEngine(options: FeatureEngineOptions, skipped: SkippedFeatureEngine[]): FeatureEngine {
  const { passes, workers, backbone } = options;
  return {
    engine: 'tfjs',
    device: workers > 1 ? `tfjs ${options.trainingEngine}, ${workers} worker threads` : `tfjs ${options.trainingEngine}`,
    skipped,
    // Unchanged from before ONNX Runtime: features cached by earlier runs keep their identity.
    identity: { folded: passes.folded, pooling: passes.poolingKinds, engine: options.trainingEngine, featureWorkers: workers > 1 },
    async start() {
      if (workers <= 1) return { extract: async (x) => tf.tidy(() => passes.frozenFeatures(x)), close: async () => {} };
      return createFeaturePool(backbone, { workers, pooling: passes.poolingKinds });
    },
    release: async () => {},
  };
}

/** The session settings for the cores free now: all of them idle → spinning on; another job busy → fewer threads, no spinning. */
async function ortSettingsNow(provider: OrtProvider, fixed: FeatureEngineOptions['ortSettings']): Promise<OrtSettings> {
  const load = fixed?.threads !== undefined && fixed.spinning !== undefined ? undefined : await measureCoreLoad();
  return {
    provider,
    threads: fixed?.threads ?? load?.free ?? 1,
    spinning: fixed?.spinning ?? !(load?.shared ?? true),
    arena: fixed?.arena ?? true,
    ...(provider === 'cpu' ? { imagesPerRun: fixed?.imagesPerRun ?? CPU_IMAGES_PER_RUN } : fixed?.imagesPerRun !== undefined ? { imagesPerRun: fixed.imagesPerRun } : {}),
  };
}

/** ONNX Runtime, or why not: `runtime` (does not load, provider missing or failing) or `graph` (the backbone does not convert). */
type OrtAttempt = { engine: FeatureEngine } | { reason: string; cause: 'runtime' | 'graph' };

/** ONNX Runtime with `provider`, or why it cannot run here. */
async function ortFeatureEngine(options: FeatureEngineOptions, provider: OrtProvider, skipped: SkippedFeatureEngine[]): Promise<OrtAttempt> {
  try {
    const availability = await providerAvailability(provider);
    if (!availability.available) return { reason: availability.reason, cause: 'runtime' };
  } catch (error) {
    return { reason: `onnxruntime-node failed to load: ${message(error)}`, cause: 'runtime' };
  }
  let graph: BackboneGraph;
  try {
    graph = buildBackboneGraph(options.backbone, options.passes.poolingKinds);
  } catch (error) {
    if (error instanceof UnsupportedLayerError) return { reason: `the backbone does not convert to ONNX: ${error.message}`, cause: 'graph' };
    throw error;
  }
  const settings = await ortSettingsNow(provider, options.ortSettings);
  // A GPU provider shows whether the driver, CUDA and cuDNN load only when a session is created:
  // create it now, so a failure falls back before any feature is computed (and cached) with it.
  let started: FeatureExtractor | undefined;
  if (provider !== 'cpu') {
    try {
      started = await startOrtExtractor(graph, settings);
    } catch (error) {
      return { reason: message(error), cause: 'runtime' };
    }
  }
  const engine: FeatureEngine = {
    engine: 'onnxruntime',
    device: describeOrtSettings(settings),
    skipped,
    ortSettings: settings,
    // By content, not by a version someone must remember to bump: what the graph computes (the
    // weights as converted, every operator the converter wrote; not the layer names), the runtime that runs
    // it, and the provider (CUDA rounds differently from CPU). Threads, spinning, the arena
    // and runs per batch change the speed, not the bits (test/unit/feature-engine.test.ts).
    identity: { engine: 'onnxruntime', provider, runtime: await ortVersion(), graphSha256: graph.contentSha256 },
    async start() {
      if (started) {
        const extractor = started;
        started = undefined;
        return extractor;
      }
      // The cores free now, not at selection: concurrent sweep trials select together (each
      // then sees the other busy), but one computes while the other waits for its features.
      const now = await ortSettingsNow(provider, options.ortSettings);
      engine.ortSettings = now;
      engine.device = describeOrtSettings(now);
      return startOrtExtractor(graph, now);
    },
    async release() {
      await started?.close();
      started = undefined;
    },
  };
  return { engine };
}

/**
 * Picks the feature engine for `preference`. `tfjs` always gives tfjs; `onnxruntime` gives ONNX
 * Runtime or fails with the reason (`EngineCapabilityError`); `auto` gives ONNX Runtime unless it
 * cannot run here or the training engine has a GPU that ONNX Runtime has no provider for, and
 * then tfjs with the reason in `skipped`.
 */
export async function selectFeatureEngine(options: FeatureEngineOptions): Promise<FeatureEngine> {
  const { preference } = options;
  if (preference === 'tfjs') return tfjsFeatureEngine(options, [{ engine: 'onnxruntime', reason: 'featureEngine: tfjs' }]);
  const skipped: SkippedFeatureEngine[] = [];
  const onGpu = GPU_TRAINING_ENGINES.has(options.trainingEngine);
  let provider: OrtProvider = options.provider ?? 'cpu';
  if (options.provider === undefined && onGpu) {
    const cuda = await providerAvailability('cuda').catch((error: unknown) => ({ available: false as const, reason: message(error) }));
    if (cuda.available) provider = 'cuda';
    else if (preference === 'auto') {
      return tfjsFeatureEngine(options, [{ engine: 'onnxruntime', reason: `the ${options.trainingEngine} engine runs the backbone on the GPU and ONNX Runtime has no GPU provider here: ${cuda.reason}` }]);
    } else skipped.push({ engine: 'onnxruntime cuda', reason: cuda.reason });
  }
  let attempt = await ortFeatureEngine(options, provider, skipped);
  if ('reason' in attempt && attempt.cause === 'runtime' && provider !== 'cpu') {
    skipped.push({ engine: `onnxruntime ${provider}`, reason: attempt.reason });
    attempt = await ortFeatureEngine(options, 'cpu', skipped);
  }
  if ('engine' in attempt) return attempt.engine;
  if (preference === 'onnxruntime') throw new EngineCapabilityError(`Select feature engine failed: featureEngine is onnxruntime but ${attempt.reason}`);
  return tfjsFeatureEngine(options, [...skipped, { engine: 'onnxruntime', reason: attempt.reason }]);
}
