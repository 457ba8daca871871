import { cpus } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { EngineCapabilityError } from '../../common/errors.ts';
import type { EngineName, EnginePreference } from '../../common/model-spec.ts';
import { registerWasmConvGrads } from './wasm-conv-grads.ts';
import { registerWasmDepthwiseGrads } from './wasm-depthwise-grads.ts';
import { requestWebGpuAdapter } from './webgpu-adapter.ts';

/** What an engine can do, read from the kernel registry of its backend after it loads. */
export interface EngineCapabilities {
  /** Conv2D gradients (any conv net trains). */
  convGrad: boolean;
  /** Depthwise-conv gradients (MobileNet fine-tuning). */
  depthwiseConvGrad: boolean;
  /** `dataSync()` works (false on webgpu in Node: use `await tensor.data()`). */
  syncReadback: boolean;
  /** Same seed gives bit-identical weights (single-threaded CPU kernels). */
  bitDeterministic: boolean;
}

/** An engine that was not chosen, and why. */
export interface SkippedEngine {
  engine: EngineName;
  reason: string;
}

/** Plain, serializable description of the engine (worker start log, training step outputs). */
export interface EngineInfo {
  engine: EngineName;
  backend: string;
  device: string;
  capabilities: EngineCapabilities;
  skipped: SkippedEngine[];
}

/** The selected engine: tfjs with one backend active. */
export interface TrainingEngine extends EngineInfo {
  /** tfjs-core with this engine's backend active (one backend per process). */
  tf: typeof tf;
}

/** Order in which `auto` tries engines, best first. */
export const ENGINE_ORDER: readonly EngineName[] = ['webgpu', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];

/** Thrown inside a loader when its engine cannot run here; becomes a `SkippedEngine`. */
class EngineUnavailable extends Error {
  override name = 'EngineUnavailable';
}

interface LoadedBackend {
  backend: string;
  device: string;
}

type Loader = () => Promise<LoadedBackend>;

function isModuleNotFound(error: unknown): boolean {
  return error instanceof Error && 'code' in error && (error.code === 'ERR_MODULE_NOT_FOUND' || error.code === 'MODULE_NOT_FOUND');
}

function cpuModel(): string {
  const all = cpus();
  return `${all[0]?.model.trim() ?? 'unknown CPU'} (${all.length} cores)`;
}

async function activate(backend: string): Promise<void> {
  if (!tf.findBackendFactory(backend)) throw new EngineUnavailable(`no '${backend}' backend registered with this tfjs-core`);
  if (!(await tf.setBackend(backend))) throw new EngineUnavailable(`backend '${backend}' failed to initialize`);
  await tf.ready();
}

async function loadWebGpu(): Promise<LoadedBackend> {
  const adapter = await requestWebGpuAdapter();
  if ('unavailable' in adapter) throw new EngineUnavailable(adapter.unavailable);
  // The webgpu backend registers itself at import only when navigator.gpu already exists.
  await import('@tensorflow/tfjs-backend-webgpu');
  await activate('webgpu');
  return { backend: 'webgpu', device: adapter.description };
}

/** tfjs-node is optional (its install downloads libtensorflow): load it only if installed. */
function loadTfjsNode(packageName: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu', device: string): Loader {
  return async () => {
    try {
      // A variable specifier keeps TypeScript and bundlers from requiring the optional package.
      const specifier: string = packageName;
      await import(specifier);
    } catch (error) {
      if (isModuleNotFound(error)) throw new EngineUnavailable(`${packageName} is not installed (optional dependency)`);
      throw new EngineUnavailable(`${packageName} failed to load: ${error instanceof Error ? error.message : String(error)}`);
    }
    await activate('tensorflow');
    return { backend: 'tensorflow', device };
  };
}

async function loadWasm(): Promise<LoadedBackend> {
  await import('@tensorflow/tfjs-backend-wasm');
  registerWasmConvGrads();
  registerWasmDepthwiseGrads();
  await activate('wasm');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return { backend: 'wasm', device: `${cpuModel()}, wasm ${simd ? 'SIMD' : 'no SIMD'}, 1 thread` };
}

async function loadCpu(): Promise<LoadedBackend> {
  await import('@tensorflow/tfjs-backend-cpu');
  await activate('cpu');
  return { backend: 'cpu', device: `${cpuModel()}, plain JavaScript` };
}

/** Backends are registered here, explicitly, when chosen: importing this module does no work. */
const LOADERS: Record<EngineName, Loader> = {
  webgpu: loadWebGpu,
  'tfjs-node-gpu': loadTfjsNode('@tensorflow/tfjs-node-gpu', 'CUDA GPU through libtensorflow'),
  'tfjs-node': loadTfjsNode('@tensorflow/tfjs-node', `${cpuModel()}, libtensorflow`),
  wasm: loadWasm,
  cpu: loadCpu,
};

function capabilitiesOf(backend: string): EngineCapabilities {
  const has = (...kernels: string[]) => kernels.every((kernel) => tf.getKernel(kernel, backend) !== undefined);
  return {
    convGrad: has('Conv2DBackpropFilter', 'Conv2DBackpropInput'),
    depthwiseConvGrad: has('DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'),
    syncReadback: backend !== 'webgpu',
    bitDeterministic: backend === 'cpu' || backend === 'wasm',
  };
}

export interface SelectEngineOptions {
  /**
   * Fail instead of falling back when the preferred engine cannot run here.
   * @default false
   */
  strict?: boolean;
}

/**
 * Loads and activates a training engine. `auto` tries every engine best-first; a named engine
 * is tried first and, unless `strict`, falls back to the engines after it in the same order.
 * Every engine passed over is reported in `skipped` with the reason.
 */
export async function selectEngine(preference: EnginePreference, options: SelectEngineOptions = {}): Promise<TrainingEngine> {
  const start = preference === 'auto' ? 0 : ENGINE_ORDER.indexOf(preference);
  const candidates = options.strict && preference !== 'auto' ? [preference] : ENGINE_ORDER.slice(start);
  // tfjs-core's Node bundle registers no gradients; tfjs-layers' bundle registers them all.
  await import('@tensorflow/tfjs-layers');
  const skipped: SkippedEngine[] = [];
  for (const engine of candidates) {
    try {
      const { backend, device } = await LOADERS[engine]();
      return { engine, backend, device, capabilities: capabilitiesOf(backend), skipped, tf };
    } catch (error) {
      if (!(error instanceof EngineUnavailable)) throw error;
      skipped.push({ engine, reason: error.message });
    }
  }
  const reasons = skipped.map((s) => `${s.engine}: ${s.reason}`).join('; ');
  throw new EngineCapabilityError(`Select training engine '${preference}' failed: none available (${reasons})`);
}

/** The serializable part of an engine, for logs and step outputs. */
export function engineInfo(engine: TrainingEngine): EngineInfo {
  const { tf: _tf, ...info } = engine;
  return info;
}
