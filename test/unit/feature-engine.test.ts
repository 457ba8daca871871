import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { EngineCapabilityError } from '../../common/errors.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { selectFeatureEngine, type FeatureEngineOptions } from '../../activities/features/feature-engine.ts';
import { createBatchPredictor } from '../../activities/features/batch-predictor.ts';
import { buildBackboneGraph } from '../../activities/features/onnx/backbone-graph.ts';
import { startOrtExtractor } from '../../activities/features/onnx/ort-extractor.ts';
import { providerAvailability } from '../../activities/features/onnx/ort-providers.ts';
import { ortSessionOptions } from '../../activities/features/onnx/ort-session-options.ts';
import { tensorSource } from '../../activities/data/batch-source.ts';
import { createModelPasses } from '../../activities/training/model-passes.ts';
import { fitModel } from '../../activities/training/trainer.ts';
import { syntheticData, tinyModel, tinySettings, tinySpec } from '../helpers/tiny-model.ts';

function symbolic(out: tfl.SymbolicTensor | tfl.SymbolicTensor[] | tf.Tensor | tf.Tensor[]): tfl.SymbolicTensor {
  if (!(out instanceof tfl.SymbolicTensor)) throw new Error('expected one symbolic tensor');
  return out;
}

function predictOne(model: tfl.LayersModel, x: tf.Tensor): tf.Tensor {
  const out = model.predict(x);
  if (!(out instanceof tf.Tensor)) throw new Error('expected one output tensor');
  return out;
}

/** A conv chain heavy enough that one batch keeps a session busy for a while (~2.5 GMAC at batch 32). */
function heavyBackbone(): tfl.LayersModel {
  const input = tfl.input({ shape: [64, 64, 3] });
  let x: tfl.SymbolicTensor = input;
  for (const [i, filters] of [32, 32, 32].entries()) {
    const conv = tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: i }) });
    x = symbolic(conv.apply(x));
  }
  return tfl.model({ inputs: input, outputs: x, name: 'heavy' });
}

/** A backbone with a branch (Add): not a plain chain, so the graph builder refuses it. */
function branchedBackbone(): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3] });
  const a = symbolic(tfl.layers.conv2d({ filters: 3, kernelSize: 1, name: 'branch_conv' }).apply(input));
  const sum = symbolic(tfl.layers.add({ name: 'residual_add' }).apply([input, a]));
  return tfl.model({ inputs: input, outputs: sum, name: 'branched' });
}

function optionsFor(backbone: tfl.LayersModel, overrides: Partial<FeatureEngineOptions> = {}): FeatureEngineOptions {
  return {
    preference: 'auto',
    backbone,
    passes: { poolingKinds: ['globalAveragePooling'], folded: true, frozenFeatures: (x) => tf.mean(predictOne(backbone, x), [1, 2]) },
    trainingEngine: 'wasm',
    workers: 1,
    ortSettings: { threads: 1, spinning: false },
    ...overrides,
  };
}

async function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  assert.deepEqual(a.shape, b.shape);
  return (await tf.tidy(() => tf.max(tf.abs(tf.sub(a, b)))).data())[0] ?? NaN;
}

describe('frozen-backbone features through ONNX Runtime', function () {
  this.timeout(120_000);
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  it('runs the session on a worker thread: this thread\'s timers keep firing while a batch computes, and the features match tfjs', async () => {
    const backbone = heavyBackbone();
    const graph = buildBackboneGraph(backbone, ['globalAveragePooling']);
    const extractor = await startOrtExtractor(graph, { provider: 'cpu', threads: 1, spinning: false, arena: false });
    const x = tf.randomUniform([32, 64, 64, 3], 0, 1, 'float32', 3);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const features = await extractor.extract(x);
      const ticksDuringRun = ticks;
      // A session run on this thread holds it for the whole batch: the timer could not fire at all.
      assert.ok(ticksDuringRun >= 3, `the timer fired ${ticksDuringRun} times while the batch computed`);
      const expected = tf.tidy(() => tf.mean(predictOne(backbone, x), [1, 2]));
      assert.deepEqual(features.shape, [32, 32]);
      const diff = await maxAbsDifference(features, expected);
      assert.ok(diff < 1e-4, `max difference from tfjs ${diff}`);
      tf.dispose([features, expected]);
    } finally {
      clearInterval(timer);
      await extractor.close();
      x.dispose();
      backbone.dispose();
    }
  });

  it('gives the same bits whether a batch runs whole or in runs of a few images (so the cache can ignore the split)', async () => {
    const backbone = heavyBackbone();
    const graph = buildBackboneGraph(backbone, ['globalAveragePooling']);
    const whole = await startOrtExtractor(graph, { provider: 'cpu', threads: 1, spinning: false, arena: true });
    const split = await startOrtExtractor(graph, { provider: 'cpu', threads: 1, spinning: false, arena: true, imagesPerRun: 3 });
    // 11 images: three runs of 3 and a last run of 2.
    const x = tf.randomUniform([11, 64, 64, 3], 0, 1, 'float32', 5);
    try {
      const values = await x.data();
      if (!(values instanceof Float32Array)) throw new Error('float32 images expected');
      const a = await whole.run(values, x.shape);
      const b = await split.run(values, x.shape);
      assert.deepEqual(b.shape, [11, 32]);
      assert.deepEqual(b.shape, a.shape);
      assert.deepEqual(Buffer.from(b.data.buffer), Buffer.from(a.data.buffer));
      // The caller's buffer is copied, not taken.
      assert.equal(values.length, 11 * 64 * 64 * 3);
    } finally {
      await Promise.all([whole.close(), split.close()]);
      x.dispose();
      backbone.dispose();
    }
  });

  it('rejects batches after the extractor is closed, naming the worker', async () => {
    const built = tinyModel(3, { trainableBackbone: false, spec: tinySpec() });
    const extractor = await startOrtExtractor(buildBackboneGraph(built.backbone, ['flatten']), { provider: 'cpu', threads: 1, spinning: false, arena: false });
    await extractor.close();
    await assert.rejects(extractor.run(new Float32Array(8 * 8 * 3), [1, 8, 8, 3]), /ONNX Runtime worker exited/);
    built.model.dispose();
  });

  it('sets intra-op threads, spinning and the memory arena as asked', () => {
    const options = ortSessionOptions({ provider: 'cpu', threads: 2, spinning: false, arena: false });
    assert.equal(options.intraOpNumThreads, 2);
    assert.equal(options.enableCpuMemArena, false);
    assert.deepEqual(options.extra, { session: { intra_op: { allow_spinning: '0' } } });
    assert.deepEqual(ortSessionOptions({ provider: 'cuda', threads: 1, spinning: true, arena: true }).executionProviders, ['cuda', 'cpu']);
  });

  describe('selection', () => {
    it('auto picks ONNX Runtime for a backbone that converts, keyed apart from tfjs features in the cache', async () => {
      const built = tinyModel(4, { trainableBackbone: false, spec: tinySpec() });
      const passes = createModelPasses(built, { cached: true, foldBatchNorm: true });
      const ort = await selectFeatureEngine({ ...optionsFor(built.backbone), passes });
      const tfjs = await selectFeatureEngine({ ...optionsFor(built.backbone), passes, preference: 'tfjs' });
      assert.equal(ort.engine, 'onnxruntime');
      assert.deepEqual(ort.skipped, []);
      assert.equal(ort.device, 'onnxruntime cpu, 1 thread, no spinning, arena, runs of 4 images');
      assert.equal(tfjs.engine, 'tfjs');
      assert.deepEqual(tfjs.skipped, [{ engine: 'onnxruntime', reason: 'featureEngine: tfjs' }]);
      // tfjs features keep the identity they had before ONNX Runtime: caches of earlier runs stay valid.
      assert.deepEqual(tfjs.identity, { folded: true, pooling: ['flatten'], engine: 'wasm', featureWorkers: false });
      assert.notDeepEqual(ort.identity, tfjs.identity);
      passes.dispose();
      built.model.dispose();
    });

    it('auto falls back to tfjs when the backbone does not convert, saying which layer', async () => {
      const backbone = branchedBackbone();
      const engine = await selectFeatureEngine(optionsFor(backbone));
      assert.equal(engine.engine, 'tfjs');
      assert.equal(engine.skipped.length, 1);
      assert.equal(engine.skipped[0]?.engine, 'onnxruntime');
      assert.match(engine.skipped[0]?.reason ?? '', /^the backbone does not convert to ONNX: .*residual_add/);
      backbone.dispose();
    });

    it('featureEngine: onnxruntime fails with the reason instead of falling back', async () => {
      const backbone = branchedBackbone();
      await assert.rejects(selectFeatureEngine(optionsFor(backbone, { preference: 'onnxruntime' })), (error: unknown) => {
        assert.ok(error instanceof EngineCapabilityError);
        assert.match(error.message, /featureEngine is onnxruntime but the backbone does not convert to ONNX/);
        return true;
      });
      backbone.dispose();
    });

    it('auto keeps the backbone on a GPU training engine when ONNX Runtime has no GPU provider here', async function () {
      if ((await providerAvailability('cuda')).available) this.skip();
      const built = tinyModel(5, { trainableBackbone: false, spec: tinySpec() });
      const engine = await selectFeatureEngine(optionsFor(built.backbone, { trainingEngine: 'webgpu' }));
      assert.equal(engine.engine, 'tfjs');
      assert.match(engine.skipped[0]?.reason ?? '', /webgpu engine runs the backbone on the GPU .*CUDA provider libraries are not installed .*ONNXRUNTIME_NODE_INSTALL=cuda12/);
      built.model.dispose();
    });
  });

  it('trains a head on ONNX Runtime features to the history tfjs features give, within float rounding', async () => {
    const { x, y } = syntheticData(32, 4);
    const run = async (featureEngine: 'tfjs' | 'onnxruntime') => {
      const built = tinyModel(9, { trainableBackbone: false, spec: tinySpec() });
      const result = await fitModel({ built, settings: tinySettings({ epochs: 2 }), train: tensorSource(x, y, { batchSize: 16 }), featureEngine });
      built.model.dispose();
      return result;
    };
    const tfjs = await run('tfjs');
    const ort = await run('onnxruntime');
    assert.equal(tfjs.featureEngine, 'tfjs');
    assert.equal(ort.featureEngine, 'onnxruntime');
    assert.match(ort.featureDevice, /^onnxruntime cpu, \d+ threads?/);
    for (const [i, epoch] of ort.history.entries()) {
      const expected = tfjs.history[i]?.loss ?? NaN;
      assert.ok(Math.abs(epoch.loss - expected) < 1e-4, `epoch ${i + 1} loss ${epoch.loss} vs ${expected}`);
    }
    tf.dispose([x, y]);
  });

  it('evaluates a classifier saved by a train step with its backbone through ONNX Runtime and its head in tfjs, to the same probabilities', async () => {
    const built = tinyModel(6, { trainableBackbone: false, spec: tinySpec() });
    const other = tfl.sequential({ layers: [tfl.layers.globalAveragePooling2d({ inputShape: [8, 8, 3] }), tfl.layers.dense({ units: 2, activation: 'softmax' })] });
    const predictor = await createBatchPredictor(built.model, 'auto');
    const whole = await createBatchPredictor(other, 'auto');
    const x = tf.randomUniform([5, 8, 8, 3], 0, 1, 'float32', 6);
    try {
      assert.equal(predictor.engine, 'onnxruntime');
      assert.equal(whole.engine, 'tfjs');
      assert.match(whole.skipped[0]?.reason ?? '', /no 'head' layer/);
      const actual = await predictor.predict(x);
      const expected = predictOne(built.model, x);
      assert.ok((await maxAbsDifference(actual, expected)) < 1e-5);
      tf.dispose([actual, expected]);
    } finally {
      await predictor.close();
      await whole.close();
      x.dispose();
      other.dispose();
      built.model.dispose();
    }
  });

  it("evaluates with the feature engine the step asks for: tfjs runs the whole model; onnxruntime fails, naming why, where it cannot split", async () => {
    const built = tinyModel(7, { trainableBackbone: false, spec: tinySpec() });
    const other = tfl.sequential({ layers: [tfl.layers.globalAveragePooling2d({ inputShape: [8, 8, 3] }), tfl.layers.dense({ units: 2, activation: 'softmax' })] });
    const tfjs = await createBatchPredictor(built.model, 'tfjs');
    try {
      assert.equal(tfjs.engine, 'tfjs');
      assert.deepEqual(tfjs.skipped, [{ engine: 'onnxruntime', reason: 'featureEngine: tfjs' }]);
      await assert.rejects(createBatchPredictor(other, 'onnxruntime'), (error: unknown) => error instanceof EngineCapabilityError && /featureEngine is onnxruntime but the model has no 'head' layer/.test(error.message));
    } finally {
      await tfjs.close();
      other.dispose();
      built.model.dispose();
    }
  });
});
