import { requestWebGpuAdapter } from '../activities/engine/webgpu-adapter.ts';

/**
 * `node --import tsx worker/check-webgpu.ts`: exits 0 and prints the adapter when this machine
 * has a WebGPU adapter (Dawn on Vulkan), else exits 1 saying why and what to check. The GPU
 * workers' readiness probe (deploy/helm), and a first check on a new GPU node by hand.
 */
async function main(): Promise<void> {
  const adapter = await requestWebGpuAdapter();
  if ('description' in adapter) {
    process.stdout.write(`${adapter.description}\n`);
    return;
  }
  process.stderr.write(
    `No WebGPU adapter: ${adapter.unavailable}.\n` +
      'Check that the container has a GPU (nvidia.com/gpu limit, NVIDIA_VISIBLE_DEVICES), that NVIDIA_DRIVER_CAPABILITIES ' +
      `includes graphics (now: ${process.env['NVIDIA_DRIVER_CAPABILITIES'] ?? 'unset'}) so the NVIDIA runtime mounts the Vulkan ICD, ` +
      'and that the image has the Vulkan loader (libvulkan1).\n',
  );
  process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`WebGPU check failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
