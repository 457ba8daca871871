import assert from 'node:assert/strict';
import { loadPipelineFile, loadPipelineText } from '../../client/pipelines/pipeline-file.ts';
import { PipelineValidationError } from '../../common/errors.ts';
import { resolveWeightsReference } from '../../common/weights-reference.ts';
import { trainStepYaml } from '../helpers/train-step-yaml.ts';

/** The model lines under test, completed with an input size and a head. */
const trainStepWithModel = (model: string): string => trainStepYaml(`${model}
        inputSize: 64
        head: [{ type: dense, units: 2 }]`);

function expectInvalid(model: string, pattern: RegExp): void {
  assert.throws(
    () => loadPipelineText(trainStepWithModel(model), 'bad.yaml'),
    (error: unknown) => {
      assert.ok(error instanceof PipelineValidationError, String(error));
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('backbone weights references (model.weights, model.weightsHash)', () => {
  it('keras:vgg19 is the official Keras VGG19 notop file, pinned by the md5 Keras publishes', () => {
    assert.deepEqual(resolveWeightsReference({ backbone: 'vgg19', weights: 'keras:vgg19' }), {
      format: 'keras-h5',
      location: 'https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
      pin: { algorithm: 'md5', hex: '253f8cb515780f3b799900260a226db6' },
      bytes: 80_134_624,
      shorthand: 'keras:vgg19',
    });
  });

  it('a .h5 file may be pinned by sha256 or md5 (either case); other locations are TF.js layers models', () => {
    const sha = 'AB'.repeat(32);
    assert.deepEqual(resolveWeightsReference({ backbone: 'vgg19', weights: 's3://b/w/vgg19.h5', weightsHash: `sha256:${sha}` }), {
      format: 'keras-h5',
      location: 's3://b/w/vgg19.h5',
      pin: { algorithm: 'sha256', hex: sha.toLowerCase() },
    });
    assert.deepEqual(resolveWeightsReference({ backbone: 'vgg19', weights: 'https://example.org/w.hdf5?download=1' }), { format: 'keras-h5', location: 'https://example.org/w.hdf5?download=1' });
    assert.deepEqual(resolveWeightsReference({ backbone: 'mobilenet_v1', weights: '../shared/models/m' }), { format: 'tfjs-layers', location: '../shared/models/m' });
  });

  it('validation accepts keras:vgg19 and pinned .h5 files', () => {
    const withOf = (model: string) => loadPipelineText(trainStepWithModel(model), 'ok.yaml').resolved.steps[0]?.with['model'];
    assert.equal(Object(withOf('        backbone: vgg19\n        weights: keras:vgg19'))['weights'], 'keras:vgg19');
    assert.equal(
      Object(withOf(`        backbone: vgg19\n        weights: file:///w/vgg19.h5\n        weightsHash: md5:${'0'.repeat(32)}`))['weightsHash'],
      `md5:${'0'.repeat(32)}`,
    );
  });

  it('validation rejects a malformed hash, naming the field and the expected form', () => {
    expectInvalid(`        backbone: vgg19\n        weights: w.h5\n        weightsHash: md5:1234`, /^bad\.yaml:\d+:\d+: steps\[0\]\.with\.model\.weightsHash: expected 'sha256:<64 hex digits>' or 'md5:<32 hex digits>'/m);
    expectInvalid(`        backbone: vgg19\n        weights: w.h5\n        weightsHash: sha1:${'a'.repeat(40)}`, /steps\[0\]\.with\.model\.weightsHash: expected 'sha256:<64 hex digits>'/);
  });

  it('validation rejects references that cannot load, naming the field', () => {
    expectInvalid('        backbone: vgg19\n        weights: keras:vgg16', /steps\[0\]\.with\.model\.weights: unknown Keras application weights "keras:vgg16"; known: keras:vgg19/);
    expectInvalid('        backbone: mobilenet_v1\n        weights: keras:vgg19', /steps\[0\]\.with\.model\.weights: keras:vgg19 holds vgg19 weights, but model\.backbone is mobilenet_v1/);
    expectInvalid('        backbone: mobilenet_v1\n        weights: m.h5', /steps\[0\]\.with\.model\.weights: mobilenet_v1 loads a TF\.js layers model/);
    expectInvalid(`        backbone: vgg19\n        weights: keras:vgg19\n        weightsHash: md5:${'0'.repeat(32)}`, /steps\[0\]\.with\.model\.weightsHash: keras:vgg19 is already pinned \(md5:253f8cb515780f3b799900260a226db6\)/);
    expectInvalid(`        backbone: vgg19\n        weights: s3://b/m/model.json\n        weightsHash: md5:${'0'.repeat(32)}`, /steps\[0\]\.with\.model\.weightsHash: pins Keras \.h5 files only/);
    expectInvalid(`        backbone: vgg19\n        weightsHash: md5:${'0'.repeat(32)}`, /steps\[0\]\.with\.model\.weightsHash: weightsHash pins model\.weights, which is not set/);
  });

  it('pipelines/pneumonia-vgg19.yaml validates with its defaults and takes keras:vgg19, so no manual step is needed', async () => {
    const { resolved } = await loadPipelineFile('pipelines/pneumonia-vgg19.yaml');
    const models = resolved.steps.filter((step) => step.uses === 'train').map((step) => Object(step.with['model'])['weights']);
    assert.deepEqual(models, ['keras:vgg19', 'keras:vgg19']);
  });
});
