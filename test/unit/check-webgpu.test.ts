import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The GPU workers' readiness probe (deploy/helm): run as the probe runs it, in a process of its
// own, so the verdict does not depend on what this test process loaded.
const root = fileURLToPath(new URL('../../', import.meta.url));

describe('worker/check-webgpu.ts (GPU readiness check)', function () {
  this.timeout(60_000);

  it('prints the adapter and exits 0 where WebGPU has one, else exits 1 naming what to check', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'worker/check-webgpu.ts'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NVIDIA_DRIVER_CAPABILITIES: 'compute,utility' },
    });
    if (result.status === 0) {
      assert.match(result.stdout, /WebGPU/);
      return;
    }
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /^No WebGPU adapter: /m);
    assert.match(result.stderr, /NVIDIA_DRIVER_CAPABILITIES includes graphics \(now: compute,utility\)/);
    assert.match(result.stderr, /Vulkan loader \(libvulkan1\)/);
  });
});
