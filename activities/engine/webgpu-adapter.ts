/**
 * WebGPU for Node through Dawn (npm `webgpu`). Only this module touches Dawn; it installs
 * `navigator.gpu` (which tfjs-backend-webgpu looks for at import) only once a real adapter has
 * been found, so a CPU machine is left as it was.
 */

export type AdapterResult = { description: string } | { unavailable: string };

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null ? Object.fromEntries(Object.entries(value)) : undefined;
}

function field(value: unknown, key: string): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  return Reflect.get(value, key);
}

/** Human description of an adapter from `GPUAdapterInfo` (vendor, architecture, device, description). */
function describe(adapter: unknown): string {
  const info = field(adapter, 'info');
  const parts = ['vendor', 'architecture', 'device', 'description']
    .map((key) => field(info, key))
    .filter((part): part is string => typeof part === 'string' && part.length > 0);
  return parts.length > 0 ? `WebGPU: ${[...new Set(parts)].join(' / ')}` : 'WebGPU adapter';
}

/** Asks an already installed `navigator.gpu` (a bundle's banner, a browser) for an adapter. */
async function installedAdapter(): Promise<AdapterResult | undefined> {
  const gpu = field(field(globalThis, 'navigator'), 'gpu');
  const requestAdapter = field(gpu, 'requestAdapter');
  if (typeof requestAdapter !== 'function') return undefined;
  const adapter: unknown = await Reflect.apply(requestAdapter, gpu, []);
  if (adapter === null || adapter === undefined) return { unavailable: 'no WebGPU adapter from navigator.gpu; falling back' };
  return { description: describe(adapter) };
}

/**
 * Finds a WebGPU adapter: through an installed `navigator.gpu`, else by loading Dawn and, when
 * it has an adapter, installing `navigator.gpu` and the WebGPU globals.
 */
export async function requestWebGpuAdapter(): Promise<AdapterResult> {
  const installed = await installedAdapter();
  if (installed) return installed;
  let dawn: Record<string, unknown> | undefined;
  try {
    const specifier: string = 'webgpu';
    dawn = record(await import(specifier));
  } catch (error) {
    return { unavailable: `Dawn (npm webgpu) failed to load: ${error instanceof Error ? error.message : String(error)}` };
  }
  const create = dawn?.['create'];
  const globals = record(dawn?.['globals']);
  if (typeof create !== 'function' || !globals) return { unavailable: 'npm webgpu does not export create() and globals' };
  const gpu: unknown = create([]);
  const requestAdapter = field(gpu, 'requestAdapter');
  if (typeof requestAdapter !== 'function') return { unavailable: 'Dawn GPU object has no requestAdapter()' };
  const adapter: unknown = await Reflect.apply(requestAdapter, gpu, []);
  if (adapter === null || adapter === undefined) {
    return { unavailable: 'no WebGPU adapter (Dawn found no usable Vulkan device; falling back)' };
  }
  Object.assign(globalThis, globals);
  // Node >= 21 defines a read-only `navigator`; define the property instead of assigning it.
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  return { description: describe(adapter) };
}
