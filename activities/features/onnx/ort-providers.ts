import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { OrtProvider } from './ort-session-options.ts';

/**
 * Which ONNX Runtime execution providers can run on this host, and why not. The CPU provider
 * and the (experimental) WebGPU provider are inside the npm tarball; the CUDA provider's
 * libraries are downloaded by the package's install script, which the project skips by default
 * (.npmrc `onnxruntime-node-install=skip`) because CI cannot reach their host. On a GPU host with
 * CUDA 12 and cuDNN 9: `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`.
 */

export type ProviderAvailability = { available: true } | { available: false; reason: string };

/** Where the package keeps its native libraries (the install script writes the CUDA ones there too). */
function bindingFolder(): string {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/** Loads the runtime (its native binding) and lists the providers it was built with; throws with the loader's message when it cannot load. */
export async function loadOrtBackends(): Promise<{ name: string; bundled: boolean }[]> {
  const ort = await import('onnxruntime-node');
  return ort.listSupportedBackends();
}

/** The runtime's version (`1.30.0`): another version may round differently, so cached features name it. */
export async function ortVersion(): Promise<string> {
  const ort = await import('onnxruntime-node');
  return ort.env.versions.node ?? ort.env.versions.common;
}

/**
 * Whether `provider` can run here. Only the files are checked for CUDA: whether the driver,
 * CUDA 12 and cuDNN 9 load shows when a session is created (and falls back to CPU then).
 */
export async function providerAvailability(provider: OrtProvider): Promise<ProviderAvailability> {
  const backends = await loadOrtBackends();
  const backend = backends.find((b) => b.name === provider);
  if (!backend) return { available: false, reason: `onnxruntime-node ${process.platform}/${process.arch} has no ${provider} execution provider` };
  if (backend.bundled) return { available: true };
  if (provider === 'cuda') {
    const library = join(bindingFolder(), 'libonnxruntime_providers_cuda.so');
    if (!existsSync(library)) {
      return { available: false, reason: 'the CUDA provider libraries are not installed (needs CUDA 12 + cuDNN 9; run ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js)' };
    }
    return { available: true };
  }
  return { available: false, reason: `the ${provider} execution provider is not bundled with onnxruntime-node` };
}
