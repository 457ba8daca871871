import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectEngine } from '../../activities/engine/engine.ts';
import { buildVgg19 } from '../../activities/training/vgg19.ts';
import { assignKerasWeights } from '../../activities/weights/assign-keras-weights.ts';
import { h5wasm } from '../../activities/weights/h5.ts';
import { readKerasWeights } from '../../activities/weights/keras-h5.ts';
import { WeightsFileError } from '../../common/errors.ts';
import { vgg19NotopFixture, vgg19NotopLayers, writeKerasH5, type FixtureLayer, type KerasH5Layout } from '../helpers/keras-h5-fixture.ts';

/** VGG19's layer names and structure at 1/16 of its channels: tiny files, same layout questions. */
const DIVISOR = 16;

/** A VGG19-shaped conv stack with the given layers' names and shapes (what the loader matches on). */
function modelFor(layers: readonly FixtureLayer[], inputSize = 32): tfl.LayersModel {
  const input = tfl.input({ shape: [inputSize, inputSize, 3], name: 'input_1' });
  let x: tfl.SymbolicTensor = input;
  for (const layer of layers) {
    if (layer.name === 'input_1') continue;
    const [kernel] = layer.weights;
    const next = kernel
      ? tfl.layers.conv2d({ name: layer.name, filters: kernel.shape[3] ?? 1, kernelSize: 3, padding: 'same', activation: 'relu' })
      : tfl.layers.maxPooling2d({ name: layer.name, poolSize: 2, strides: 2 });
    const out = next.apply(x);
    assert.ok(out instanceof tfl.SymbolicTensor);
    x = out;
  }
  return tfl.model({ inputs: input, outputs: x, name: 'narrow_vgg19' });
}

async function weightValues(model: tfl.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.getWeights().map(async (weight) => Float32Array.from(await weight.data())));
}

describe('Keras .h5 weights (read with h5wasm, no Python)', function () {
  this.timeout(60_000);
  let dir: string;
  const layers = vgg19NotopLayers(5, DIVISOR);
  const files = {} as Record<KerasH5Layout, string>;

  before(async () => {
    await selectEngine('cpu', { strict: true });
    dir = await mkdtemp(join(tmpdir(), 'mlp-keras-h5-'));
    for (const layout of ['keras1', 'keras2', 'split'] as const) {
      files[layout] = join(dir, `${layout}.h5`);
      await writeKerasH5(files[layout], layers, layout);
    }
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the same seeded weights from the Keras 1, Keras 2 and split-attribute layouts, and sets identical tensors', async () => {
    const loaded: Float32Array[][] = [];
    for (const layout of ['keras1', 'keras2', 'split'] as const) {
      const file = await readKerasWeights(files[layout], layout);
      assert.deepEqual(
        file.layers.map((layer) => layer.layer),
        layers.map((layer) => layer.name),
        `${layout}: layers in layer_names order, weightless ones included`,
      );
      assert.equal(file.kerasVersion, layout === 'keras1' ? '1' : '2.2.4', 'no keras_version means Keras 1, as Keras reads it');
      const model = modelFor(layers);
      assert.deepEqual(assignKerasWeights(model, file, layout), { layers: 16, weights: 32 });
      loaded.push(await weightValues(model));
      model.dispose();
    }
    const expected = layers.flatMap((layer) => layer.weights.map((weight) => weight.values));
    for (const values of loaded) {
      assert.equal(values.length, 32);
      values.forEach((value, i) => assert.deepEqual(value, expected[i], `weight ${i} equals the fixture's, bit for bit`));
    }
  });

  it('names Keras 1 and Keras 2 weights as their files do (block1_conv1_W_1:0, block1_conv1/kernel:0)', async () => {
    const keras1 = await readKerasWeights(files.keras1, 'keras1');
    const keras2 = await readKerasWeights(files.keras2, 'keras2');
    assert.deepEqual(keras1.layers[1]?.weights.map((weight) => weight.name), ['block1_conv1_W_1:0', 'block1_conv1_b_1:0']);
    assert.deepEqual(keras2.layers[1]?.weights.map((weight) => weight.name), ['block1_conv1/kernel:0', 'block1_conv1/bias:0']);
    assert.deepEqual(keras1.layers[1]?.weights[0]?.shape, [3, 3, 3, 64 / DIVISOR]);
  });

  it('reads the weights of a whole-model file (model.save), which keeps them under model_weights', async () => {
    const path = join(dir, 'whole-model.h5');
    await writeKerasH5(path, layers, 'keras2', { wholeModel: true });
    const file = await readKerasWeights(path, 'whole-model.h5');
    const model = modelFor(layers);
    assert.deepEqual(assignKerasWeights(model, file, 'whole-model.h5'), { layers: 16, weights: 32 });
    model.dispose();
  });

  it('loads a full-size VGG19 notop file in the official layout into the VGG19 it builds, every weight set', async () => {
    const path = await vgg19NotopFixture();
    const file = await readKerasWeights(path, 'vgg19 notop');
    const model = buildVgg19(32, 1);
    try {
      assert.deepEqual(assignKerasWeights(model, file, 'vgg19 notop'), { layers: 16, weights: 32 });
      const expected = file.layers.flatMap((layer) => layer.weights.map((weight) => weight.values));
      const values = await weightValues(model);
      assert.equal(values.length, expected.length);
      values.forEach((value, i) => assert.ok(Buffer.from(value.buffer).equals(Buffer.from(expected[i]?.buffer ?? new ArrayBuffer(0))), `weight ${i} set from the file`));
    } finally {
      model.dispose();
    }
  });

  describe('bad files fail with an error naming the file and what was wrong', () => {
    async function expectReadError(path: string, pattern: RegExp): Promise<void> {
      await assert.rejects(readKerasWeights(path, path), (error: unknown) => {
        assert.ok(error instanceof WeightsFileError, String(error));
        assert.match(error.message, pattern);
        return true;
      });
    }

    it('rejects a file that is not HDF5', async () => {
      const path = join(dir, 'not-hdf5.h5');
      await writeFile(path, '<html>Access denied</html>\n'.repeat(40));
      await expectReadError(path, /not-hdf5\.h5 is not an HDF5 file \(no HDF5 signature\)/);
    });

    it('rejects a truncated .h5', async () => {
      const path = join(dir, 'truncated.h5');
      const whole = await readFile(files.keras1);
      await writeFile(path, whole.subarray(0, Math.floor(whole.length / 2)));
      await expectReadError(path, new RegExp(`truncated\\.h5 is a truncated HDF5 file \\(truncated file: eof = ${Math.floor(whole.length / 2)},.*stored_eof = ${whole.length}\\)`));
    });

    it('rejects an HDF5 file that is not a Keras weights file', async () => {
      const path = join(dir, 'not-keras.h5');
      const h5 = await h5wasm();
      const file = new h5.File(path, 'w');
      file.create_attribute('title', 'an HDF5 file from some other tool');
      file.create_dataset({ name: 'data', data: new Float32Array([1, 2, 3]), shape: [3] });
      file.close();
      await expectReadError(path, /not-keras\.h5 is HDF5 but not Keras weights: no 'layer_names' attribute .*\(root attributes: title;/);
    });
  });

  describe('a file that does not fit the model fails before any weight is set', () => {
    async function expectLoadError(fileLayers: FixtureLayer[], pattern: RegExp): Promise<void> {
      const path = join(dir, 'mismatch.h5');
      await writeKerasH5(path, fileLayers, 'keras1');
      const file = await readKerasWeights(path, 'mismatch.h5');
      const model = modelFor(layers);
      try {
        const before = await weightValues(model);
        assert.throws(() => assignKerasWeights(model, file, 'mismatch.h5'), (error: unknown) => {
          assert.ok(error instanceof WeightsFileError, String(error));
          assert.match(error.message, pattern);
          return true;
        });
        assert.deepEqual(await weightValues(model), before, 'no weight changed: nothing half-loaded');
      } finally {
        model.dispose();
      }
    }

    it('a missing layer', async () => {
      await expectLoadError(
        layers.filter((layer) => layer.name !== 'block5_conv4'),
        /^Load weights failed: mismatch\.h5 has no weights for layer block5_conv4 \(\[3, 3, 32, 32\] \[32\]\) of narrow_vgg19$/,
      );
    });

    it('an extra, unexpected weighted layer (e.g. the include_top file)', async () => {
      const fc1 = { name: 'fc1', weights: [{ variable: 'kernel' as const, shape: [4, 2], values: new Float32Array(8) }] };
      await expectLoadError([...layers, fc1], /^Load weights failed: mismatch\.h5 has weights for layer fc1 \(\[4, 2\]\) that narrow_vgg19 does not have .*notop/);
    });

    it('a weight of another shape, naming the layer and the expected and found shapes', async () => {
      const wrong = layers.map((layer) =>
        layer.name === 'block3_conv2'
          ? { ...layer, weights: layer.weights.map((weight) => (weight.variable === 'kernel' ? { ...weight, shape: [3, 3, 16, 8], values: weight.values.subarray(0, 3 * 3 * 16 * 8) } : weight)) }
          : layer,
      );
      await expectLoadError(wrong, /^Load weights failed: mismatch\.h5 layer 'block3_conv2' weight 'block3_conv2_W_1:0' has shape \[3, 3, 16, 8\], expected \[3, 3, 16, 16\]/);
    });

    it('another number of weights in a layer', async () => {
      const noBias = layers.map((layer) => (layer.name === 'block1_conv1' ? { ...layer, weights: layer.weights.slice(0, 1) } : layer));
      await expectLoadError(noBias, /^Load weights failed: mismatch\.h5 layer 'block1_conv1' holds 1 weights \(\[3, 3, 3, 4\]\), expected 2 \(\[3, 3, 3, 4\] \[4\]\)$/);
    });
  });

  it('leaves no tensors behind', async () => {
    const file = await readKerasWeights(files.keras2, 'keras2');
    const model = modelFor(layers);
    const before = tf.memory().numTensors;
    assignKerasWeights(model, file, 'keras2');
    assert.equal(tf.memory().numTensors, before);
    model.dispose();
  });
});
