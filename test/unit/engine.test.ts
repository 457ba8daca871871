import assert from 'node:assert/strict';
import { EngineCapabilityError } from '../../common/errors.ts';
import { engineInfo, selectEngine } from '../../activities/engine/engine.ts';

// This machine (and CI) has no GPU and no tfjs-node: these tests pin the fallback behaviour.
describe('selectEngine', () => {
  it('picks wasm on a CPU machine and says why each better engine was skipped', async () => {
    const engine = await selectEngine('auto');
    assert.equal(engine.engine, 'wasm');
    assert.equal(engine.tf.getBackend(), 'wasm');
    assert.deepEqual(engine.skipped.map((s) => s.engine), ['webgpu', 'tfjs-node-gpu', 'tfjs-node']);
    assert.match(engine.skipped[0]?.reason ?? '', /WebGPU adapter|Dawn/);
    assert.match(engine.skipped[1]?.reason ?? '', /@tensorflow\/tfjs-node-gpu is not installed/);
  });

  it('reports that wasm trains conv nets but cannot compute depthwise-conv gradients', async () => {
    const info = engineInfo(await selectEngine('wasm', { strict: true }));
    assert.deepEqual(info.capabilities, { convGrad: true, depthwiseConvGrad: false, syncReadback: true, bitDeterministic: true });
    assert.match(info.device, /wasm SIMD/);
    assert.equal('tf' in info, false);
  });

  it('falls back from webgpu without an adapter, and refuses when strict', async () => {
    const fallback = await selectEngine('webgpu');
    assert.equal(fallback.engine, 'wasm');
    await assert.rejects(selectEngine('webgpu', { strict: true }), (error: unknown) => {
      assert.ok(error instanceof EngineCapabilityError);
      assert.match(error.message, /Select training engine 'webgpu' failed: none available \(webgpu: /);
      return true;
    });
  });

  it('activates the cpu reference backend on request', async () => {
    const engine = await selectEngine('cpu', { strict: true });
    assert.equal(engine.tf.getBackend(), 'cpu');
    assert.equal(engine.capabilities.depthwiseConvGrad, true);
  });
});
