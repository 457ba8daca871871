import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectEngine } from '../../activities/engine/engine.ts';
import { modelInput } from '../../activities/evaluation/predict.ts';
import { recordedPreprocessing } from '../../activities/evaluation/trained-model.ts';
import { preprocessBatch } from '../../activities/training/input-preprocessing.ts';
import { serializeModel, WEIGHTS_FILE } from '../../activities/model-io/layers-model-io.ts';
import { loadBuiltModel } from '../../activities/training/model-builder.ts';
import { pixelSource } from '../../activities/training/pixel-source.ts';
import { loadPipelineText } from '../../client/pipelines/pipeline-file.ts';
import { EvaluationError, PipelineSpecError, PipelineValidationError } from '../../common/errors.ts';
import { modelPreprocessing, PREPROCESSING_MODES, type Preprocessing } from '../../common/model-spec.ts';
import { tinyModel, tinySpec } from '../helpers/tiny-model.ts';
import { trainStepYaml } from '../helpers/train-step-yaml.ts';

// Evaluation must feed a model exactly the pixels training fed it, and both must be what the
// backbone's weights expect (Keras' VGG19 ImageNet weights: caffe). A mismatch silently ruins
// every metric, so the numbers are checked against values worked out by hand.

/** One gray row of three pixels: black, mid-gray, white. */
const GRAY = Uint8Array.from([0, 128, 255]);

/** Hand-computed model input of GRAY, pixel by pixel, channels in the model's order. */
const EXPECTED: Record<Preprocessing, number[][]> = {
  // BGR minus the ImageNet means [103.939, 116.779, 123.68]; gray, so the flip moves nothing.
  caffe: [
    [-103.939, -116.779, -123.68],
    [24.061, 11.221, 4.32],
    [151.061, 138.221, 131.32],
  ],
  // x / 255
  unit: [
    [0, 0, 0],
    [0.50196078, 0.50196078, 0.50196078],
    [1, 1, 1],
  ],
  // x / 127.5 - 1
  symmetric: [
    [-1, -1, -1],
    [0.00392157, 0.00392157, 0.00392157],
    [1, 1, 1],
  ],
};

/** Float32 agreement with a hand-written decimal: a few units in the last place of float32. */
function assertClose(actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i] ?? Number.NaN, expected[i] ?? Number.NaN];
    assert.ok(Math.abs(a - e) <= 1e-6 * Math.max(1, Math.abs(e)) * 8, `${what}[${i}]: ${a}, expected ${e}`);
  }
}

/** The first training batch's x of a one-image split, as pixelSource (the trainer's path) makes it. */
async function trainingInput(gray: Uint8Array, preprocessing: Preprocessing): Promise<Float32Array> {
  const source = pixelSource(
    { count: 1, height: 1, width: gray.length, channels: 1, pixels: gray, labels: Int32Array.from([0]) },
    { batchSize: 1, classes: 2, preprocessing, shuffle: false },
  );
  for await (const batch of source.batches(0, 1)) {
    const values = Float32Array.from(await batch.x.data());
    tf.dispose([batch.x, batch.y]);
    return values;
  }
  throw new Error('pixel source yielded no batch');
}

describe('input preprocessing', () => {
  before(async () => {
    // Pinned: the bit-for-bit comparison below is of the cpu kernels against plain float32 arithmetic.
    await selectEngine('cpu', { strict: true });
  });

  for (const mode of PREPROCESSING_MODES) {
    it(`${mode}: training batches and evaluation inputs hold the hand-computed values, bit for bit the same`, async () => {
      const trained = await trainingInput(GRAY, mode);
      const scored = modelInput(GRAY, 3, mode);
      assertClose(trained, EXPECTED[mode].flat(), `${mode} training`);
      assert.deepEqual(scored, trained, 'evaluation feeds the values training fed');
    });
  }

  it('caffe flips RGB images to BGR before subtracting the means', async () => {
    const rgb = tf.tensor4d([10, 20, 30], [1, 1, 1, 3], 'int32');
    const x = preprocessBatch(rgb, 'caffe');
    assertClose(await x.data(), [30 - 103.939, 20 - 116.779, 10 - 123.68], 'caffe RGB');
    tf.dispose([rgb, x]);
  });

  it('defaults to what the backbone weights were trained with, and an explicit mode wins', () => {
    assert.equal(modelPreprocessing({ backbone: 'vgg19' }), 'caffe');
    assert.equal(modelPreprocessing({ backbone: 'mobilenet_v1' }), 'symmetric');
    assert.equal(modelPreprocessing({ backbone: 'vgg19', preprocessing: 'unit' }), 'unit');
  });

  it('keys cached features by mode: the same image under two modes never shares a feature row', () => {
    const split = { count: 1, height: 1, width: 3, channels: 1, pixels: GRAY, labels: Int32Array.from([0]) };
    const keys = PREPROCESSING_MODES.map((preprocessing) => pixelSource(split, { batchSize: 1, classes: 2, preprocessing, imageIds: ['p/a'] }).exampleKeys?.(0, 1)[0]);
    assert.deepEqual(keys, ['caffe/plain/p/a', 'unit/plain/p/a', 'symmetric/plain/p/a']);
  });

  it("writes the backbone's default into the validated spec, keeps an explicit mode, and rejects an unknown one at the field", () => {
    const modelOf = (lines: string): unknown => loadPipelineText(trainStepYaml(lines), 'ok.yaml').resolved.steps[0]?.with['model'];
    const head = '\n        head: [{ type: dense, units: 2 }]';
    assert.equal(Object(modelOf(`        backbone: vgg19\n        inputSize: 64${head}`))['preprocessing'], 'caffe');
    assert.equal(Object(modelOf(`        backbone: mobilenet_v1\n        inputSize: 64${head}`))['preprocessing'], 'symmetric');
    assert.deepEqual(modelOf(`        backbone: vgg19\n        inputSize: 64\n        preprocessing: unit${head}`), {
      backbone: 'vgg19',
      inputSize: 64,
      preprocessing: 'unit',
      trainable: false,
      head: [{ type: 'dense', units: 2, activation: 'relu' }],
    });
    assert.throws(
      () => loadPipelineText(trainStepYaml('        backbone: vgg19\n        inputSize: 64\n        preprocessing: imagenet\n        head: [{ type: dense, units: 2 }]'), 'bad.yaml'),
      (error: unknown) => {
        assert.ok(error instanceof PipelineValidationError);
        assert.match(error.message, /^bad\.yaml:\d+:\d+: steps\[0\]\.with\.model\.preprocessing: .*"caffe"\|"unit"\|"symmetric"/m);
        return true;
      },
    );
  });

  describe('as recorded in model.json', () => {
    it('reads preprocessing, the inputScaling older models recorded, and unit for models that recorded neither', () => {
      assert.equal(recordedPreprocessing({ userDefinedMetadata: { preprocessing: 'caffe', classes: ['a', 'b'] } }, 'm/model.json'), 'caffe');
      assert.equal(recordedPreprocessing({ userDefinedMetadata: { inputScaling: 'symmetric' } }, 'm/model.json'), 'symmetric');
      assert.equal(recordedPreprocessing({ userDefinedMetadata: { classes: ['a', 'b'] } }, 'm/model.json'), 'unit');
      assert.equal(recordedPreprocessing({ modelTopology: {} }, 'm/model.json'), 'unit');
    });

    it('survives the round trip through the saved model.json for every mode', async () => {
      for (const mode of PREPROCESSING_MODES) {
        const built = tinyModel(1, { trainableBackbone: false, spec: tinySpec() });
        built.model.setUserDefinedMetadata({ classes: ['a', 'b'], preprocessing: mode });
        const { modelJson } = await serializeModel(built.model);
        built.model.dispose();
        assert.equal(recordedPreprocessing(JSON.parse(JSON.stringify(modelJson)), 'm/model.json'), mode);
      }
    });

    it('lets a full run warm-start only from a model trained with the same preprocessing', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'mlp-warm-preprocessing-'));
      try {
        const built = tinyModel(2, { trainableBackbone: false, spec: tinySpec() });
        built.model.setUserDefinedMetadata({ classes: ['a', 'b'], inputScaling: 'unit' });
        const { modelJson, weights } = await serializeModel(built.model);
        built.model.dispose();
        await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
        await writeFile(join(dir, WEIGHTS_FILE), weights);

        const caffe = tinySpec();
        assert.equal(caffe.preprocessing, 'caffe', 'vgg19 default');
        await assert.rejects(loadBuiltModel(dir, caffe, {}), (error: unknown) => {
          assert.ok(error instanceof PipelineSpecError);
          assert.equal(
            error.message,
            `Warm start failed: ${dir} was trained with preprocessing unit but the step's model.preprocessing is caffe; set it to match, or retrain the model it starts from`,
          );
          return true;
        });
        const warm = await loadBuiltModel(dir, { ...caffe, preprocessing: 'unit' }, {});
        assert.deepEqual(warm.model.getUserDefinedMetadata(), { classes: ['a', 'b'], inputScaling: 'unit' }, 'the loaded model keeps its metadata');
        warm.model.dispose();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('refuses an unknown recorded mode instead of guessing, naming the file and the field', () => {
      assert.throws(
        () => recordedPreprocessing({ userDefinedMetadata: { preprocessing: 'torch' } }, 'runs/x/model.json'),
        (error: unknown) => {
          assert.ok(error instanceof EvaluationError);
          assert.match(error.message, /^Load model failed: runs\/x\/model\.json userDefinedMetadata\.preprocessing must be one of caffe, unit, symmetric/);
          return true;
        },
      );
    });
  });
});

describe('gray training batches on the wasm engine', () => {
  before(async () => {
    await selectEngine('wasm', { strict: true });
  });

  // Features cached before gray batches were built in plain arithmetic were computed from
  // preprocessBatch's tensors under the same example keys: the values must not have moved.
  for (const mode of PREPROCESSING_MODES) {
    it(`${mode}: every gray value gives the bits preprocessBatch gives on wasm`, async () => {
      const every = Uint8Array.from({ length: 256 }, (_, i) => i);
      const batched = tf.tidy(() => preprocessBatch(tf.tensor4d(every, [1, 1, 256, 1], 'int32'), mode));
      const expected = Float32Array.from(await batched.data());
      batched.dispose();
      const actual = await trainingInput(every, mode);
      assert.deepEqual(Buffer.from(actual.buffer), Buffer.from(expected.buffer));
    });
  }
});
