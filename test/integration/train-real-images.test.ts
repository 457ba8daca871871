import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { ModelSchema } from '../../common/model-spec.ts';
import { createRandom, shuffled } from '../../common/prng.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import type { Batch, BatchSource } from '../../activities/data/batch-source.ts';
import { lossValue } from '../../activities/training/losses.ts';
import { buildModel } from '../../activities/training/model-builder.ts';
import { createModelPasses } from '../../activities/training/model-passes.ts';
import { fitModel } from '../../activities/training/trainer.ts';
import type * as tfl from '@tensorflow/tfjs-layers';
import { CHEST_XRAY_224_DIR, MOBILENET_V1_DIR } from '../helpers/shared-assets.ts';

const DATA = join(CHEST_XRAY_224_DIR, 'train');
const CLASSES = ['NORMAL', 'PNEUMONIA'];

interface Example {
  file: string;
  label: number;
}

/** Decodes grayscale JPEGs batch by batch into MobileNet's input ([-1, 1], 3 channels). */
/**
 * `perClass` shuffled images of each class (seeded), and `split(from, to)`: the examples at
 * positions [from, to) of every class, shuffled together.
 */
async function sampleImages(random: () => number, perClass: number): Promise<(from: number, to: number) => Example[]> {
  const byClass = await Promise.all(
    CLASSES.map(async (name, label) => shuffled((await readdir(join(DATA, name))).sort(), random).slice(0, perClass).map((file) => ({ file: join(DATA, name, file), label }))),
  );
  return (from, to) => shuffled(byClass.flatMap((examples) => examples.slice(from, to)), random);
}

function imageSource(examples: Example[], batchSize: number): BatchSource {
  return {
    size: examples.length,
    async *batches(): AsyncIterable<Batch> {
      for (let start = 0; start < examples.length; start += batchSize) {
        const chunk = examples.slice(start, start + batchSize);
        const pixels = await Promise.all(chunk.map(({ file }) => sharp(file).resize(224, 224, { fit: 'fill' }).removeAlpha().toColourspace('srgb').raw().toBuffer()));
        const x = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(Buffer.concat(pixels), [chunk.length, 224, 224, 3], 'int32'), 127.5), 1));
        const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(chunk.map((e) => e.label), 'int32'), 2), 'float32'));
        yield { x, y };
      }
    },
  };
}

/** Each backbone weight's values (batch-norm moving statistics included), by name. */
function weightValues(weights: tfl.LayerVariable[]): Map<string, Float32Array> {
  return new Map(weights.map((weight) => [weight.originalName, Float32Array.from(weight.read().dataSync())]));
}

function sameValues(a: Float32Array | undefined, b: Float32Array | undefined): boolean {
  return a !== undefined && b !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
}

describe('training on real chest X-rays', function () {
  this.timeout(600_000);

  it('fine-tunes MobileNet v1 from conv_dw_12 onward on the wasm engine: the unfrozen weights change, the frozen ones and all batch-norm statistics do not (12 images)', async () => {
    const engine = await selectEngine('wasm', { strict: true });
    assert.equal(engine.capabilities.depthwiseConvGrad, true);
    const random = createRandom(12, 'fine-tune');
    const split = await sampleImages(random, 6);
    const built = await buildModel(
      ModelSchema.parse({
        backbone: 'mobilenet_v1',
        weights: MOBILENET_V1_DIR,
        inputSize: 224,
        trainable: { from: 'conv_dw_12' },
        head: [{ type: 'globalAveragePooling' }, { type: 'dense', units: 2, activation: 'softmax' }],
      }),
      { seed: 12, capabilities: engine.capabilities, engineName: engine.engine },
    );
    try {
      const trained = new Set(built.backbone.layers.filter((layer) => layer.trainable && layer.weights.length > 0).map((layer) => layer.name));
      assert.deepEqual([...trained], ['conv_dw_12', 'conv_dw_12_bn', 'conv_pw_12', 'conv_pw_12_bn', 'conv_dw_13', 'conv_dw_13_bn', 'conv_pw_13', 'conv_pw_13_bn']);
      const before = weightValues(built.backbone.weights);
      const epochs = 2;
      const result = await fitModel({
        built,
        featureEngine: 'tfjs',
        settings: { optimizer: { name: 'adam', learningRate: 1e-3 }, loss: 'categoricalCrossentropy', epochs, batchSize: 4, seed: 12 },
        train: imageSource(split(0, 4), 4),
        validation: imageSource(split(4, 6), 4),
        engineName: engine.engine,
      });
      assert.equal(result.history.length, epochs);
      assert.ok(result.history.every((epoch) => Number.isFinite(epoch.loss) && Number.isFinite(epoch.valLoss)));
      assert.equal(result.featureSeconds, 0, 'a trained backbone is never served from the feature cache');

      const after = weightValues(built.backbone.weights);
      const trainedWeights = built.backbone.trainableWeights.map((weight) => weight.originalName);
      // Kernels of the four trained conv layers plus gamma and beta of their four batch-norms.
      assert.equal(trainedWeights.length, 12);
      for (const name of trainedWeights) assert.ok(!sameValues(before.get(name), after.get(name)), `${name} changed`);
      const frozen = [...before.keys()].filter((name) => !trainedWeights.includes(name));
      assert.ok(frozen.some((name) => name.startsWith('conv_dw_13_bn/moving')), 'moving statistics of trained batch-norms count as frozen');
      for (const name of frozen) assert.ok(sameValues(before.get(name), after.get(name)), `${name} unchanged`);
    } finally {
      built.model.dispose();
    }
  });

  it('computes the gradients of MobileNet v1 fine-tuned from conv_dw_12 on wasm as the cpu backend does (within 1e-4 relative per weight: the 80-layer forward pass differs too)', async () => {
    const readdirFirst = await Promise.all(CLASSES.map(async (name) => (await readdir(join(DATA, name))).sort()[0]));
    /** Gradients of the loss on two X-rays (one per class) for every trained weight, by name, on one backend. */
    const gradients = async (backend: 'wasm' | 'cpu'): Promise<Map<string, Float32Array>> => {
      await selectEngine(backend, { strict: true });
      const built = await buildModel(
        ModelSchema.parse({
          backbone: 'mobilenet_v1',
          weights: MOBILENET_V1_DIR,
          inputSize: 224,
          trainable: { from: 'conv_dw_12' },
          head: [{ type: 'globalAveragePooling' }, { type: 'dense', units: 2, activation: 'softmax' }],
        }),
        { seed: 13 },
      );
      const passes = createModelPasses(built, { cached: false, foldBatchNorm: false });
      const examples = CLASSES.map((name, label) => ({ file: join(DATA, name, readdirFirst[label] ?? ''), label }));
      const grads = new Map<string, Float32Array>();
      for await (const { x, y } of imageSource(examples, 2).batches(0, 0)) {
        const variables = built.model.trainableWeights.map((weight) => tf.engine().registeredVariables[weight.name]).filter((v): v is tf.Variable => v !== undefined);
        const result = tf.tidy(() => {
          const input = passes.headInput(x);
          return tf.variableGrads(() => lossValue('categoricalCrossentropy', y, passes.forwardTrain(input, 'gradient-check')), variables).grads;
        });
        for (const weight of built.model.trainableWeights) grads.set(weight.originalName, Float32Array.from(await (result[weight.name] as tf.Tensor).data()));
        tf.dispose([x, y, ...Object.values(result)]);
      }
      passes.dispose();
      built.model.dispose();
      return grads;
    };
    const wasm = await gradients('wasm');
    const cpu = await gradients('cpu');
    assert.equal(wasm.size, 14, 'twelve backbone weights and the dense kernel and bias');
    for (const [name, expected] of cpu) {
      const actual = wasm.get(name) ?? new Float32Array();
      let diff = 0;
      let scale = 0;
      for (const [i, value] of expected.entries()) {
        diff = Math.max(diff, Math.abs((actual[i] ?? Number.NaN) - value));
        scale = Math.max(scale, Math.abs(value));
      }
      assert.ok(diff / scale < 1e-4, `${name}: off by ${diff} (${diff / scale} relative)`);
    }
    await selectEngine('wasm', { strict: true });
  });

  it('trains a head on frozen MobileNet v1 features to a validation AUC of at least 0.85 (300 images, fixed seed)', async () => {
    await selectEngine('wasm', { strict: true });
    const random = createRandom(11, 'real-images');
    const split = await sampleImages(random, 150);
    const built = await buildModel(
      ModelSchema.parse({
        backbone: 'mobilenet_v1',
        weights: MOBILENET_V1_DIR,
        inputSize: 224,
        head: [{ type: 'globalAveragePooling' }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 2, activation: 'softmax' }],
      }),
      { seed: 11 },
    );
    const result = await fitModel({
      built,
      featureEngine: 'tfjs',
      settings: { optimizer: { name: 'adam', learningRate: 1e-3 }, loss: 'categoricalCrossentropy', epochs: 8, batchSize: 32, seed: 11 },
      train: imageSource(split(0, 120), 32),
      validation: imageSource(split(120, 150), 32),
    });
    built.model.dispose();
    const last = result.history.at(-1);
    assert.equal(result.history.length, 8);
    assert.ok(last !== undefined && last.loss < (result.history[0]?.loss ?? 0), 'training loss fell');
    assert.ok((last?.valAuc ?? 0) >= 0.85, `validation AUC ${last?.valAuc}`);
  });
});
