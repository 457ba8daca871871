import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createDownloadActivity } from '../../activities/steps/download.ts';
import { createSubsetActivity } from '../../activities/steps/subset.ts';
import { decodeNpyUint8 } from '../../activities/data/npy.ts';
import { preprocessImage } from '../../activities/data/preprocess.ts';
import { loadSplitManifest, loadSplitPixels } from '../../activities/data/split-reader.ts';
import { writeSyntheticDataset } from '../../activities/data/synthetic.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { DatasetManifestSchema, SplitManifestSchema, datasetKeys, type SplitManifest } from '../../common/dataset-manifest.ts';
import { ArchiveError, ChecksumMismatchError, DatasetError, DownloadError } from '../../common/errors.ts';
import type { StepContext, StepOutputs } from '../../common/step-activities.ts';
import { buildZip, renameEntry, type ZipEntry } from '../helpers/archives.ts';
import { startFileServer, type FileServer } from '../helpers/file-server.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { CHEST_XRAY_224_DIR } from '../helpers/shared-assets.ts';

/** A zip of real X-rays in the original archive's layout: chest_xray/{train,val}/{CLASS}/…. */
async function realXrayZip(perClass: number): Promise<Buffer> {
  const entries: ZipEntry[] = [];
  for (const split of ['train', 'val']) {
    for (const cls of ['NORMAL', 'PNEUMONIA']) {
      const names = (await readdir(join(CHEST_XRAY_224_DIR, split, cls))).sort().slice(0, perClass);
      for (const name of names) entries.push({ name: `chest_xray/${split}/${cls}/${name}`, data: await readFile(join(CHEST_XRAY_224_DIR, split, cls, name)) });
    }
  }
  return buildZip(entries);
}

/** Activity context without the SDK's info-level log lines in the test output. */
function quietEnvironment(): MockActivityEnvironment {
  return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
}

function context(stepId = 'download'): StepContext {
  const workflowId = `wf-${randomUUID().slice(0, 8)}`;
  return { pipeline: 'test', workflowId, stepId, runPrefix: `runs/${workflowId}/${stepId}/` };
}

describe('data steps against the real S3 server and a local HTTP server', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let http: FileServer;
  let store: ObjectStore;
  let scratch: string;
  let activities: ReturnType<typeof createDownloadActivity> & ReturnType<typeof createSubsetActivity>;
  let realZip: Buffer;
  let jpeg: Buffer;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'data' });
    http = await startFileServer();
    store = new ObjectStore(servers.storage);
    scratch = await mkdtemp(join(tmpdir(), 'mlp-data-'));
    activities = { ...createDownloadActivity({ store, scratchDir: scratch }), ...createSubsetActivity({ store, scratchDir: scratch }) };
    realZip = await realXrayZip(12);
    jpeg = await readFile(join(CHEST_XRAY_224_DIR, 'train', 'NORMAL', (await readdir(join(CHEST_XRAY_224_DIR, 'train', 'NORMAL'))).sort()[0] ?? ''));
  });

  after(async () => {
    await http?.close();
    await servers?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  async function download(input: Record<string, unknown>, ctx = context(), heartbeats: unknown[] = []): Promise<StepOutputs> {
    const env = quietEnvironment();
    env.on('heartbeat', (details: unknown) => heartbeats.push(details));
    return env.run(activities.downloadDataset, input, ctx);
  }

  async function manifestKeys(): Promise<string[]> {
    return (await store.list('datasets/')).filter((key) => key.endsWith('/manifest.json'));
  }

  /** Runs a download that must fail, and checks that it left no manifest behind. */
  async function expectFailure(input: Record<string, unknown>, type: new (...args: never[]) => Error, message: RegExp): Promise<void> {
    const before = await manifestKeys();
    await assert.rejects(download(input), (error: unknown) => {
      assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
      assert.match(error.message, message);
      return true;
    });
    assert.deepEqual(await manifestKeys(), before, 'no manifest may be written');
  }

  async function serve(name: string, body: Buffer): Promise<string> {
    http.files.set(`/${name}`, { body });
    return `${http.baseUrl}/${name}`;
  }

  describe('download', () => {
    // The uninterrupted import every other download is compared with: made here, not by the
    // first test, so each test also runs alone (mocha --grep) or in another order.
    let uninterrupted: StepOutputs;
    const heartbeats: unknown[] = [];

    before(async () => {
      uninterrupted = await download({ url: await serve('full.zip', realZip) }, context(), heartbeats);
    });

    it('imports a zip of real X-rays served over HTTP and writes a content-addressed manifest', async () => {
      assert.deepEqual(uninterrupted.classes, ['NORMAL', 'PNEUMONIA']);
      assert.deepEqual(uninterrupted.counts, { train: { NORMAL: 12, PNEUMONIA: 12 }, val: { NORMAL: 8, PNEUMONIA: 8 } });
      assert.equal(uninterrupted.skipped, 0);
      const key = String(uninterrupted.datasetManifest);
      assert.equal(key, `datasets/${String(uninterrupted.datasetHash)}/manifest.json`);
      const manifest = DatasetManifestSchema.parse(await store.getJson(key));
      assert.equal(manifest.images.length, 40);
      assert.deepEqual(manifest.images[0] && { path: manifest.images[0].path, width: manifest.images[0].width }, {
        path: `train/NORMAL/${(await readdir(join(CHEST_XRAY_224_DIR, 'train', 'NORMAL'))).sort()[0]}`,
        width: 224,
      });
      for (const image of manifest.images) assert.ok(await store.exists(`datasets/blobs/${image.sha256}`));
      assert.ok(heartbeats.some((h) => typeof h === 'object' && h !== null && 'phase' in h && h.phase === 'download'));
    });

    it('resumes a download dropped halfway with a Range request and yields the identical manifest', async () => {
      http.files.set('/drop.zip', { body: realZip, dropAfter: Math.floor(realZip.length / 2) });
      const ctx = context();
      await assert.rejects(download({ url: `${http.baseUrl}/drop.zip` }, ctx), /Download interrupted after \d+ of \d+ bytes: GET http:\/\/127\.0\.0\.1:\d+\/drop\.zip/);
      // The retry of the same step (same workflow and step id) finds the partial file.
      const resumed = await download({ url: `${http.baseUrl}/drop.zip` }, ctx);
      const requests = http.requests.filter((r) => r.path === '/drop.zip');
      assert.equal(requests.length, 2);
      assert.deepEqual([requests[0]?.range, requests[0]?.status], [undefined, 200]);
      assert.match(requests[1]?.range ?? '', /^bytes=[1-9]\d*-$/);
      assert.equal(requests[1]?.status, 206);
      assert.ok(Number(resumed.resumedFrom) > 0 && Number(resumed.resumedFrom) < realZip.length);
      assert.equal(resumed.datasetHash, uninterrupted.datasetHash);
      assert.equal(resumed.datasetManifest, uninterrupted.datasetManifest);
      assert.deepEqual([resumed.uploaded, resumed.reused], [0, 40], 'a re-import uploads nothing already stored');
    });

    it('restarts from byte 0 when the server ignores Range, and still yields the identical manifest', async () => {
      http.files.set('/norange.zip', { body: realZip, dropAfter: Math.floor(realZip.length / 3), ignoreRange: true });
      const ctx = context();
      await assert.rejects(download({ url: `${http.baseUrl}/norange.zip` }, ctx), /Download interrupted/);
      const restarted = await download({ url: `${http.baseUrl}/norange.zip` }, ctx);
      const requests = http.requests.filter((r) => r.path === '/norange.zip');
      assert.match(requests[1]?.range ?? '', /^bytes=\d+-$/);
      assert.equal(requests[1]?.status, 200);
      assert.equal(restarted.resumedFrom, 0);
      assert.equal(restarted.datasetHash, uninterrupted.datasetHash);
    });

    it('verifies a pinned sha256 and imports the same dataset from s3:// and file:// sources', async () => {
      const { createHash } = await import('node:crypto');
      const sha256 = createHash('sha256').update(realZip).digest('hex');
      await store.put('uploads/real.zip', realZip);
      const fromS3 = await download({ url: `s3://${store.bucket}/uploads/real.zip`, sha256 });
      assert.equal(fromS3.datasetHash, uninterrupted.datasetHash);
      const dir = await mkdtemp(join(tmpdir(), 'mlp-file-'));
      try {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(join(dir, 'real.zip'), realZip);
        const fromFile = await download({ url: pathToFileURL(join(dir, 'real.zip')).href, sha256, format: 'zip' });
        assert.equal(fromFile.datasetHash, uninterrupted.datasetHash);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('imports a folder named by a relative file:// URL, as the demo pipeline names its dataset', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'mlp-rel-'));
      try {
        await writeSyntheticDataset({ dir, seed: 1, counts: { train: { NORMAL: 2, PNEUMONIA: 3 } } });
        const url = `file://${relative(process.cwd(), dir)}`;
        assert.match(url, /^file:\/\/\.\./);
        const output = await download({ url, format: 'directory' });
        assert.deepEqual(output.counts, { train: { NORMAL: 2, PNEUMONIA: 3 } });
        assert.equal(output.archiveBytes, 0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('fails on 404 with the status and URL, without retrying being able to help', async () => {
      await expectFailure({ url: `${http.baseUrl}/missing.zip` }, DownloadError, /^Download failed with status 404: GET http:\/\/127\.0\.0\.1:\d+\/missing\.zip$/);
    });

    it('fails on a checksum mismatch', async () => {
      await expectFailure(
        { url: await serve('sum.zip', realZip), sha256: '0'.repeat(64) },
        ChecksumMismatchError,
        /^Checksum mismatch for http:\/\/.*\/sum\.zip: expected sha256 0{64}, got [0-9a-f]{64}$/,
      );
    });

    it('fails on a truncated zip', async () => {
      await expectFailure({ url: await serve('cut.zip', realZip.subarray(0, realZip.length - 5000)) }, ArchiveError, /^Cannot read zip archive .*: truncated or corrupt/);
    });

    it('fails on a zip-slip entry', async () => {
      const zip = renameEntry(await buildZip([{ name: 'xx/train/A/evil.jpeg', data: jpeg }]), 'xx/train/A/evil.jpeg', '../train/A/evil.jpeg');
      await expectFailure({ url: await serve('slip.zip', zip) }, ArchiveError, /^Unsafe entry in .*: invalid relative path: \.\.\/train\/A\/evil\.jpeg$/);
    });

    it('fails on a symlink entry', async () => {
      const zip = await buildZip([
        { name: 'train/A/a.jpeg', data: jpeg },
        { name: 'train/B/link.jpeg', data: '/etc/passwd', mode: 0o120777 },
      ]);
      await expectFailure({ url: await serve('link.zip', zip) }, ArchiveError, /^Refusing symlink entry "train\/B\/link\.jpeg" in /);
    });

    it('fails on a zip bomb', async () => {
      const zip = await buildZip([{ name: 'train/A/bomb.jpeg', data: Buffer.alloc(32 * 1024 * 1024), compress: true }]);
      await expectFailure({ url: await serve('bomb.zip', zip) }, ArchiveError, /compression ratio \d+ exceeds 100 \(zip bomb\?\)$/);
    });

    it('fails on an archive without split/class folders', async () => {
      await expectFailure({ url: await serve('flat.zip', await buildZip([{ name: 'images/a.jpeg', data: jpeg }])) }, DatasetError, /^No \{train,val,test\}\/<CLASS> folders found in http:/);
      await expectFailure({ url: await serve('noclass.zip', await buildZip([{ name: 'data/train/a.jpeg', data: jpeg }])) }, DatasetError, /^No class folders found under the split folders of http:/);
    });

    it('fails on a class with zero readable images', async () => {
      const zip = await buildZip([
        { name: 'train/NORMAL/a.jpeg', data: jpeg },
        { name: 'train/PNEUMONIA/notes.txt', data: 'not an image' },
      ]);
      await expectFailure({ url: await serve('empty-class.zip', zip) }, DatasetError, /^Class "PNEUMONIA" in split "train" has no readable images \(http:.*: train\/PNEUMONIA\)$/);
    });

    it('skips a corrupt JPEG and a non-image file, and lists both in the report', async () => {
      const zip = await buildZip([
        { name: 'Train/NORMAL/a.jpeg', data: jpeg },
        { name: 'Train/NORMAL/broken.jpeg', data: jpeg.subarray(0, Math.floor(jpeg.length / 2)) },
        { name: 'Train/PNEUMONIA/b.jpeg', data: await readFile(join(CHEST_XRAY_224_DIR, 'val', 'PNEUMONIA', (await readdir(join(CHEST_XRAY_224_DIR, 'val', 'PNEUMONIA'))).sort()[0] ?? '')) },
        { name: 'Train/PNEUMONIA/readme.txt', data: 'notes' },
      ]);
      const output = await download({ url: await serve('junk.zip', zip) });
      assert.equal(output.skipped, 2);
      // libvips' error text is not always kept under concurrency, so only its prefix is fixed.
      const skipped = Array.isArray(output.skippedFiles) ? output.skippedFiles : [];
      assert.deepEqual(skipped.map((s: { path: string }) => s.path), ['Train/NORMAL/broken.jpeg', 'Train/PNEUMONIA/readme.txt']);
      assert.match(String(skipped[0]?.reason), /^cannot decode: /);
      assert.equal(skipped[1]?.reason, 'not an image');
      const manifest = DatasetManifestSchema.parse(await store.getJson(String(output.datasetManifest)));
      assert.deepEqual(manifest.images.map((i) => [i.path, i.split]), [['Train/NORMAL/a.jpeg', 'train'], ['Train/PNEUMONIA/b.jpeg', 'train']]);
      const report = await store.getJson(String(output.report));
      assert.ok(typeof report === 'object' && report !== null && 'skipped' in report);
      assert.deepEqual(report.skipped, output.skippedFiles);
    });
  });

  describe('subset', () => {
    let datasetManifest: string;
    const spec = (seed: number) => ({
      datasetManifest,
      seed,
      fractions: { train: 0.5, val: 0.25, test: 1 },
      imageSize: 32,
      channels: 3,
    });
    const subset = (input: Record<string, unknown>): Promise<StepOutputs> =>
      quietEnvironment().run(activities.subsetDataset, input, context('subset'));
    const readSplit = async (key: unknown): Promise<{ text: string; manifest: SplitManifest }> => {
      const text = (await store.get(String(key))).toString('utf8');
      return { text, manifest: SplitManifestSchema.parse(JSON.parse(text)) };
    };

    before(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'mlp-synth-'));
      await writeSyntheticDataset({ dir, seed: 9, counts: { train: { NORMAL: 40, PNEUMONIA: 60 }, test: { NORMAL: 10, PNEUMONIA: 10 } } });
      const output = await download({ url: pathToFileURL(dir).href });
      await rm(dir, { recursive: true, force: true });
      datasetManifest = String(output.datasetManifest);
    });

    it('gives byte-identical split manifests for the same seed and reuses the preprocessed images', async () => {
      // An image size no other test uses: nothing is preprocessed before, whatever ran first.
      const first = await subset({ ...spec(42), imageSize: 28 });
      const second = await subset({ ...spec(42), imageSize: 28 });
      assert.deepEqual({ ...first, preprocessed: undefined }, { ...second, preprocessed: undefined });
      // 50 train + 25 val + 20 test images, each preprocessed once.
      assert.deepEqual(first.preprocessed, { created: 95, reused: 0 });
      assert.deepEqual(second.preprocessed, { created: 0, reused: 95 });
      for (const split of ['trainManifest', 'valManifest', 'testManifest'] as const) {
        assert.equal((await readSplit(first[split])).text, (await readSplit(second[split])).text);
      }
      assert.ok(await store.exists(String(first.subsetRecord)));
    });

    it('draws a different subset for another seed', async () => {
      const a = await readSplit((await subset(spec(42))).trainManifest);
      const b = await readSplit((await subset(spec(43))).trainManifest);
      assert.notDeepEqual(a.manifest.images.map((i) => i.sha256), b.manifest.images.map((i) => i.sha256));
    });

    it('reuses rows an earlier subset preprocessed, through its split manifests, with identical pixels', async () => {
      // Another image size: no earlier subset of this dataset has these parameters.
      const first = await subset({ ...spec(50), imageSize: 24 });
      const second = await subset({ ...spec(51), imageSize: 24 });
      const shasOf = async (output: StepOutputs) =>
        (await Promise.all(['trainManifest', 'valManifest', 'testManifest'].map(async (split) => (await readSplit(output[split])).manifest.images))).flat();
      const before = new Set((await shasOf(first)).map((image) => image.sha256));
      const images = await shasOf(second);
      const overlap = images.filter((image) => before.has(image.sha256)).length;
      assert.ok(overlap > 0 && overlap < images.length, `overlap ${overlap} of ${images.length}`);
      assert.deepEqual(first.preprocessed, { created: 95, reused: 0 });
      assert.deepEqual(second.preprocessed, { created: 95 - overlap, reused: overlap });
      // A reused row holds exactly what preprocessing the source gives.
      const manifest = (await readSplit(second.trainManifest)).manifest;
      const split = await loadSplitPixels(store, manifest);
      const index = manifest.images.findIndex((image) => before.has(image.sha256));
      const image = manifest.images[index];
      assert.ok(image);
      const fresh = await preprocessImage(await store.get(datasetKeys.blob(image.sha256)), manifest.preprocessing);
      assert.deepEqual(split.pixels.subarray(index * 24 * 24, (index + 1) * 24 * 24), fresh);
    });

    it('draws without duplicates, keeps train and val disjoint and class proportions exact', async () => {
      const output = await subset(spec(7));
      const train = (await readSplit(output.trainManifest)).manifest;
      const val = (await readSplit(output.valManifest)).manifest;
      const test = (await readSplit(output.testManifest)).manifest;
      const all = [...train.images, ...val.images, ...test.images].map((i) => i.sha256);
      assert.equal(new Set(all).size, all.length);
      assert.deepEqual(output.counts, {
        train: { NORMAL: 20, PNEUMONIA: 30 },
        val: { NORMAL: 10, PNEUMONIA: 15 },
        test: { NORMAL: 10, PNEUMONIA: 10 },
      });
      assert.ok(train.images.every((i) => i.path.startsWith('train/')) && val.images.every((i) => i.path.startsWith('train/')));
      assert.ok(train.images.every((i) => i.label === (i.class === 'NORMAL' ? 0 : 1)));
      // Stored gray in (rows, height, width) uint8 .npy shards; readers replicate to the 3 channels asked for.
      const stored = decodeNpyUint8(await store.get(train.images[0]?.key ?? ''));
      assert.deepEqual(stored.shape, [50, 32, 32]);
      assert.ok(train.images.every((image, row) => image.key === train.images[0]?.key && image.row === row));
    });

    it('hands training a verified split manifest and its pixels in manifest order', async () => {
      const output = await subset({ ...spec(11), channels: 1 });
      const manifest = await loadSplitManifest(store, String(output.trainManifest));
      const split = await loadSplitPixels(store, manifest);
      assert.deepEqual([split.count, split.height, split.width, split.channels], [50, 32, 32, 1]);
      assert.equal(split.pixels.length, 50 * 32 * 32);
      assert.deepEqual([...split.labels], manifest.images.map((i) => i.label));
      const shard = decodeNpyUint8(await store.get(manifest.images[0]?.key ?? '')).data;
      const row = manifest.images[0]?.row ?? -1;
      assert.deepEqual(split.pixels.subarray(0, 32 * 32), shard.subarray(row * 32 * 32, (row + 1) * 32 * 32));
      const altered = String(output.trainManifest).replace(/[0-9a-f]{64}\.json$/, `${'0'.repeat(64)}.json`);
      await store.put(altered, await store.get(String(output.trainManifest)));
      await assert.rejects(loadSplitManifest(store, altered), (error: unknown) => error instanceof DatasetError && /does not match the sha256 in its key/.test(error.message));
    });
  });
});
