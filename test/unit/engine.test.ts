import assert from 'node:assert/strict';
import { EngineCapabilityError } from '../../common/errors.ts';
import { engineInfo, selectEngine } from '../../activities/engine/engine.ts';
import { requestWebGpuAdapter } from '../../activities/engine/webgpu-adapter.ts';

// These tests run on both kinds of machine. Where Dawn finds a WebGPU adapter (a GPU worker),
// `auto` must pick webgpu; where it finds none (CI, CPU machines) it must fall back to wasm and
// say why. The probe below is the one selectEngine makes, so each machine asserts its one exact
// outcome. No tfjs-node is installed on either.
describe('selectEngine', () => {
  /** The WebGPU adapter of this machine, or why there is none. */
  let adapter: Awaited<ReturnType<typeof requestWebGpuAdapter>>;

  before(async () => {
    adapter = await requestWebGpuAdapter();
  });

  it('picks the best engine the machine has (webgpu with a WebGPU adapter, else wasm) and says why each better one was skipped', async () => {
    const engine = await selectEngine('auto');
    if ('description' in adapter) {
      assert.equal(engine.engine, 'webgpu');
      assert.equal(engine.tf.getBackend(), 'webgpu');
      assert.equal(engine.device, adapter.description);
      assert.deepEqual(engine.skipped, []);
      // No dataSync on webgpu in Node, and GPU reductions promise no bit-identical weights.
      assert.deepEqual(engine.capabilities, { convGrad: true, depthwiseConvGrad: true, syncReadback: false, bitDeterministic: false });
    } else {
      assert.equal(engine.engine, 'wasm');
      assert.equal(engine.tf.getBackend(), 'wasm');
      assert.deepEqual(engine.skipped.map((s) => s.engine), ['webgpu', 'tfjs-node-gpu', 'tfjs-node']);
      assert.equal(engine.skipped[0]?.reason, adapter.unavailable);
      assert.match(engine.skipped[0]?.reason ?? '', /WebGPU adapter|Dawn/);
      assert.match(engine.skipped[1]?.reason ?? '', /@tensorflow\/tfjs-node-gpu is not installed/);
    }
  });

  it('reports that wasm trains conv nets and depthwise convolutions (MobileNet fine-tuning) through its registered gradient kernels', async () => {
    const info = engineInfo(await selectEngine('wasm', { strict: true }));
    assert.deepEqual(info.capabilities, { convGrad: true, depthwiseConvGrad: true, syncReadback: true, bitDeterministic: true });
    assert.match(info.device, /wasm SIMD/);
    assert.equal('tf' in info, false);
  });

  it('without a WebGPU adapter, falls back from webgpu to wasm, and refuses when strict', async function () {
    if ('description' in adapter) this.skip();
    const fallback = await selectEngine('webgpu');
    assert.equal(fallback.engine, 'wasm');
    await assert.rejects(selectEngine('webgpu', { strict: true }), (error: unknown) => {
      assert.ok(error instanceof EngineCapabilityError);
      assert.match(error.message, /Select training engine 'webgpu' failed: none available \(webgpu: /);
      return true;
    });
  });

  it('with a WebGPU adapter, takes webgpu when asked, strictly too', async function () {
    if (!('description' in adapter)) this.skip();
    const engine = await selectEngine('webgpu', { strict: true });
    assert.equal(engine.engine, 'webgpu');
    assert.equal(engine.tf.getBackend(), 'webgpu');
    assert.deepEqual(engine.skipped, []);
  });

  // Last, so that the suites after this file start on a CPU backend whatever the machine.
  it('activates the cpu reference backend on request', async () => {
    const engine = await selectEngine('cpu', { strict: true });
    assert.equal(engine.tf.getBackend(), 'cpu');
    assert.equal(engine.capabilities.depthwiseConvGrad, true);
  });
});
