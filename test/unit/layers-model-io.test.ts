import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectEngine } from '../../activities/engine/engine.ts';
import { fetchLayersModelFiles, loadLayersModel, serializeModel, WEIGHTS_FILE } from '../../activities/model-io/layers-model-io.ts';
import { PipelineSpecError } from '../../common/errors.ts';
import { tensorSource } from '../../activities/data/batch-source.ts';
import { loadBuiltModel } from '../../activities/training/model-builder.ts';
import { fitModel } from '../../activities/training/trainer.ts';
import { syntheticData, tinyModel, tinySettings, tinySpec } from '../helpers/tiny-model.ts';

describe('layers model files', () => {
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  it('round-trips a classifier with a nested head through model.json and weights.bin with identical predictions', async () => {
    const built = tinyModel(5, { trainableBackbone: true, spec: tinySpec() });
    const { x, y } = syntheticData(6, 9);
    const dir = await mkdtemp(join(tmpdir(), 'mlp-model-'));
    try {
      const { modelJson, weights } = await serializeModel(built.model);
      assert.deepEqual(modelJson.weightsManifest.map((group) => group.paths), [[WEIGHTS_FILE]]);
      assert.equal(weights.byteLength, built.model.countParams() * 4);
      await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
      await writeFile(join(dir, WEIGHTS_FILE), weights);

      const loaded = await loadLayersModel(await fetchLayersModelFiles(dir, undefined));
      const expected = built.model.predict(x) as tf.Tensor;
      const actual = loaded.predict(x) as tf.Tensor;
      assert.deepEqual(Array.from(await actual.data()), Array.from(await expected.data()));
      assert.deepEqual(loaded.layers.map((l) => l.name), built.model.layers.map((l) => l.name));
      tf.dispose([expected, actual]);
      loaded.dispose();
    } finally {
      tf.dispose([x, y]);
      built.model.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('warm-starts from a saved classifier: same predictions, split into backbone and head, and it trains on', async () => {
    const spec = tinySpec();
    const original = tinyModel(6, { trainableBackbone: false, spec });
    const { x, y } = syntheticData(32, 3);
    const dir = await mkdtemp(join(tmpdir(), 'mlp-warm-'));
    try {
      await fitModel({ featureEngine: 'tfjs', built: original, settings: tinySettings({ epochs: 2 }), train: tensorSource(x, y, { batchSize: 16 }) });
      const { modelJson, weights } = await serializeModel(original.model);
      await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
      await writeFile(join(dir, WEIGHTS_FILE), weights);

      const warm = await loadBuiltModel(dir, spec, {});
      assert.equal(warm.frozenBackbone, true);
      assert.deepEqual(warm.featureShape, original.featureShape);
      const [expected, actual] = tf.tidy(() => [original.model.predict(x) as tf.Tensor, warm.model.predict(x) as tf.Tensor]);
      assert.deepEqual(Array.from(await actual!.data()), Array.from(await expected!.data()));
      tf.dispose([expected!, actual!]);

      const continued = await fitModel({ featureEngine: 'tfjs', built: warm, settings: tinySettings({ epochs: 2 }), train: tensorSource(x, y, { batchSize: 16 }) });
      assert.equal(continued.history.length, 2);
      await assert.rejects(
        loadBuiltModel(dir, { ...spec, head: [{ type: 'flatten' }, { type: 'dense', units: 3, activation: 'softmax' }] }, {}),
        (error: unknown) => error instanceof PipelineSpecError && /dense head units \[16, 2\].*\[3\]/.test(error.message),
      );
      warm.model.dispose();
    } finally {
      tf.dispose([x, y]);
      original.model.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing model.json with its path', async () => {
    await assert.rejects(fetchLayersModelFiles('/nonexistent/model', undefined), /Read model file failed: \/nonexistent\/model\/model\.json/);
  });

  it('rejects a JSON file that is not a layers model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mlp-model-'));
    try {
      await writeFile(join(dir, 'model.json'), JSON.stringify({ hello: 'world' }));
      await assert.rejects(fetchLayersModelFiles(dir, undefined), /is not a TF\.js layers model\.json/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
