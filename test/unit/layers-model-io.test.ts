import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectEngine } from '../../activities/engine/engine.ts';
import { fetchLayersModelFiles, loadLayersModel, serializeModel, WEIGHTS_FILE } from '../../activities/training/layers-model-io.ts';
import { syntheticData, tinyModel, tinySpec } from '../helpers/tiny-model.ts';

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
