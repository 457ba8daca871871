import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { selectEngine } from '../../activities/engine/engine.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { buildModel, type BuiltModel } from '../../activities/training/model-builder.ts';
import { h5wasm } from '../../activities/weights/h5.ts';
import { fetchWeightsFile, md5IndexKey, storedWeightsKey } from '../../activities/weights/weights-source.ts';
import { ChecksumMismatchError, DownloadError, WeightsFileError } from '../../common/errors.ts';
import { ModelSchema, type ModelSpec } from '../../common/model-spec.ts';
import { silentLogger } from '../../activities/data/logger.ts';
import { startFileServer, type FileServer } from '../helpers/file-server.ts';
import { vgg19NotopFixture, vgg19NotopLayers, writeKerasH5 } from '../helpers/keras-h5-fixture.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

const digest = (algorithm: 'md5' | 'sha256', bytes: Buffer) => createHash(algorithm).update(bytes).digest('hex');

/**
 * Backbone weights from a Keras .h5 on a real local HTTP server (which counts requests) into the
 * real S3 server: a pinned file is fetched from its origin once, then every later run and worker
 * reads the stored copy; bad downloads fail before parsing and leave nothing in storage.
 */
describe('Keras .h5 weights fetched once, pinned, kept in object storage', function () {
  this.timeout(180_000);
  let servers: TestServers;
  let origin: FileServer;
  let store: ObjectStore;
  let work: string;
  let vgg19: Buffer;
  let small: Buffer;

  before(async () => {
    await selectEngine('wasm', { strict: true });
    [servers, origin] = await Promise.all([startTestServers({ bucketPrefix: 'weights' }), startFileServer()]);
    store = new ObjectStore(servers.storage);
    work = await mkdtemp(join(servers.dir, 'work-'));
    vgg19 = await readFile(await vgg19NotopFixture());
    origin.files.set('/keras/vgg19_notop.h5', { body: vgg19 });
    const smallPath = join(work, 'small.h5');
    await writeKerasH5(smallPath, vgg19NotopLayers(3, 16), 'keras2');
    small = await readFile(smallPath);
    origin.files.set('/small.h5', { body: small });
  });

  after(async () => {
    await origin?.close();
    await servers?.stop();
  });

  /** A fresh worker: its own scratch folder, the shared object store. */
  async function worker(): Promise<{ scratchDir: string }> {
    return { scratchDir: await mkdtemp(join(work, 'worker-')) };
  }

  function vgg19Spec(weights: string, weightsHash?: string): ModelSpec {
    return ModelSchema.parse({ backbone: 'vgg19', weights, ...(weightsHash ? { weightsHash } : {}), inputSize: 32, head: [{ type: 'flatten' }, { type: 'dense', units: 2, activation: 'softmax' }] });
  }

  async function firstKernel(built: BuiltModel): Promise<Float32Array> {
    const kernel = built.backbone.getLayer('block1_conv1').getWeights()[0];
    assert.ok(kernel);
    return Float32Array.from(await kernel.data());
  }

  async function storedWeightKeys(): Promise<string[]> {
    return store.list('weights/');
  }

  async function expectFailure(spec: ModelSpec, errorClass: new (...args: never[]) => Error, pattern: RegExp): Promise<void> {
    const { scratchDir } = await worker();
    await assert.rejects(buildModel(spec, { seed: 1, store, scratchDir }), (error: unknown) => {
      assert.ok(error instanceof errorClass, String(error));
      assert.match(error.message, pattern);
      return true;
    });
    assert.deepEqual(await storedWeightKeys(), [], 'nothing stored');
    assert.deepEqual(await readdir(join(scratchDir, 'weights')), [], 'no download left on the worker');
  }

  it('a URL that 404s fails with the status and URL, storing nothing', async () => {
    const url = `${origin.baseUrl}/keras/missing.h5`;
    await expectFailure(vgg19Spec(url, `md5:${'0'.repeat(32)}`), DownloadError, new RegExp(`^Download failed with status 404: GET ${url}$`));
  });

  it('a download whose hash differs from its pin fails before parsing, storing nothing', async () => {
    const url = `${origin.baseUrl}/small.h5`;
    await expectFailure(
      vgg19Spec(url, `sha256:${'ab'.repeat(32)}`),
      ChecksumMismatchError,
      new RegExp(`^Weights file ${url} has sha256 ${digest('sha256', small)}, but is pinned to sha256:${'ab'.repeat(32)}$`),
    );
  });

  it('a truncated download of a pinned file fails the pin, not the HDF5 parser', async () => {
    origin.files.set('/truncated.h5', { body: vgg19.subarray(0, 1 << 20) });
    await expectFailure(vgg19Spec(`${origin.baseUrl}/truncated.h5`, `md5:${digest('md5', vgg19)}`), ChecksumMismatchError, /has md5 [0-9a-f]{32}, but is pinned to md5:/);
  });

  it('a pinned file that is not Keras weights for this model fails to load and is not kept', async () => {
    // The pin matches: the file is exactly what was asked for, but it is narrow VGG19 weights.
    await expectFailure(vgg19Spec(`${origin.baseUrl}/small.h5`, `sha256:${digest('sha256', small)}`), WeightsFileError, /layer 'block1_conv1' weight 'block1_conv1\/kernel:0' has shape \[3, 3, 3, 4\], expected \[3, 3, 3, 64\]/);

    const h5 = await h5wasm();
    const path = join(work, 'not-keras.h5');
    const file = new h5.File(path, 'w');
    file.create_dataset({ name: 'x', data: new Float32Array(4), shape: [4] });
    file.close();
    const bytes = await readFile(path);
    origin.files.set('/not-keras.h5', { body: bytes });
    await expectFailure(vgg19Spec(`${origin.baseUrl}/not-keras.h5`, `md5:${digest('md5', bytes)}`), WeightsFileError, /not-keras\.h5 is HDF5 but not Keras weights/);
  });

  it('a pinned file is fetched from its origin once; a second run on another worker makes no request to the origin', async () => {
    const url = `${origin.baseUrl}/keras/vgg19_notop.h5`;
    const md5 = digest('md5', vgg19);
    const sha256 = digest('sha256', vgg19);
    const spec = vgg19Spec(url, `md5:${md5}`);
    const requestsTo = () => origin.requests.filter((request) => request.path === '/keras/vgg19_notop.h5').length;

    const first = await buildModel(spec, { seed: 1, store, ...(await worker()) });
    const firstValues = await firstKernel(first);
    first.model.dispose();
    assert.equal(requestsTo(), 1);
    assert.deepEqual((await storedWeightKeys()).sort(), [md5IndexKey(md5), storedWeightsKey(sha256)].sort());
    assert.equal((await store.stat(storedWeightsKey(sha256)))?.size, vgg19.length);
    assert.deepEqual(await store.getJson(md5IndexKey(md5)), { sha256, md5, bytes: vgg19.length, source: url });

    const second = await buildModel(spec, { seed: 2, store, ...(await worker()) });
    assert.deepEqual(await firstKernel(second), firstValues, 'the same weights, whatever the seed of the random init');
    second.model.dispose();
    // A sha256 pin of the same bytes finds the same stored copy.
    const third = await buildModel(vgg19Spec(url, `sha256:${sha256}`), { seed: 3, store, ...(await worker()) });
    third.model.dispose();
    assert.equal(requestsTo(), 1, 'the origin was asked once');

    // The weights are the file's: block1_conv1's kernel is the fixture's first dataset.
    const expected = vgg19NotopLayers(19)[1]?.weights[0]?.values;
    assert.deepEqual(firstValues, expected);
  });

  it('reads unpinned .h5 files from s3:// and file:// sources in place, keeping nothing', async () => {
    await store.put('uploads/small.h5', small);
    const { scratchDir } = await worker();
    const storedBefore = await storedWeightKeys();
    for (const location of [`s3://${store.bucket}/uploads/small.h5`, join(work, 'small.h5'), `file://${join(work, 'small.h5')}`]) {
      const file = await fetchWeightsFile({ format: 'keras-h5', location }, { store, scratchDir, log: silentLogger });
      try {
        assert.equal(file.sha256, digest('sha256', small), location);
        assert.ok((await readFile(file.path)).equals(small));
        assert.equal(await file.keep(), undefined, 'unpinned files are not kept');
      } finally {
        await file.release();
      }
    }
    assert.deepEqual(await readdir(join(scratchDir, 'weights')), []);
    assert.deepEqual(await storedWeightKeys(), storedBefore);
    await rm(scratchDir, { recursive: true, force: true });
  });
});
