import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createDownloadActivity } from '../../activities/steps/download.ts';
import { createSubsetActivity } from '../../activities/steps/subset.ts';
import { writeSyntheticDataset, zipFolder } from '../../activities/data/synthetic.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { DatasetManifestSchema } from '../../common/dataset-manifest.ts';
import { DownloadError } from '../../common/errors.ts';
import type { StepContext, StepOutputs } from '../../common/step-activities.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

function context(): StepContext {
  const workflowId = `wf-${randomUUID().slice(0, 8)}`;
  return { pipeline: 'test', workflowId, stepId: 'download', runPrefix: `runs/${workflowId}/download/` };
}

describe('download from an s3:// source in a bucket other than the worker\'s', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let store: ObjectStore;
  let other: ObjectStore;
  let scratch: string;
  let zipPath: string;
  let activities: ReturnType<typeof createDownloadActivity> & ReturnType<typeof createSubsetActivity>;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 's3src' });
    store = new ObjectStore(servers.storage);
    // A second bucket on the same server, as a team's shared dataset bucket would be.
    other = new ObjectStore({ ...servers.storage, bucket: `shared-${randomUUID().slice(0, 8)}` });
    await other.ensureBucket();
    scratch = await mkdtemp(join(tmpdir(), 'mlp-s3src-'));
    activities = { ...createDownloadActivity({ store, scratchDir: scratch }), ...createSubsetActivity({ store, scratchDir: scratch }) };
    const dataset = join(scratch, 'dataset');
    await writeSyntheticDataset({ dir: dataset, seed: 5, counts: { train: { NORMAL: 3, PNEUMONIA: 4 }, test: { NORMAL: 2, PNEUMONIA: 2 } }, size: 32 });
    zipPath = join(scratch, 'synthetic.zip');
    await zipFolder(dataset, zipPath);
    await other.put('datasets/synthetic.zip', await readFile(zipPath), 'application/zip');
  });

  after(async () => {
    await servers?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  function download(url: string): Promise<StepOutputs> {
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    return env.run(activities.downloadDataset, { url }, context());
  }

  async function expectDownloadError(url: string, message: RegExp): Promise<void> {
    await assert.rejects(download(url), (error: unknown) => {
      assert.ok(error instanceof DownloadError, `expected DownloadError, got ${String(error)}`);
      assert.match(error.message, message);
      return true;
    });
  }

  it('imports the zip with the worker\'s credentials and gives the same manifest as the file:// copy', async () => {
    const fromFile = await download(pathToFileURL(zipPath).href);
    const url = `s3://${other.bucket}/datasets/synthetic.zip`;
    const fromS3 = await download(url);

    assert.deepEqual(fromS3.counts, { train: { NORMAL: 3, PNEUMONIA: 4 }, test: { NORMAL: 2, PNEUMONIA: 2 } });
    assert.equal(fromS3.archiveBytes, (await readFile(zipPath)).length);
    assert.equal(fromS3.datasetHash, fromFile.datasetHash);
    assert.equal(fromS3.datasetManifest, fromFile.datasetManifest);
    const manifest = DatasetManifestSchema.parse(await store.getJson(String(fromS3.datasetManifest)));
    assert.equal(manifest.images.length, 11);
    assert.deepEqual(manifest.classes, ['NORMAL', 'PNEUMONIA']);
    // Blobs and the manifest land in the worker's bucket; the source bucket is only read.
    assert.deepEqual([fromS3.uploaded, fromS3.reused], [0, 11]);
    assert.deepEqual(await other.list(''), ['datasets/synthetic.zip']);
  });

  it('fails with a DownloadError saying the bucket does not exist', async () => {
    const url = `s3://missing-${randomUUID().slice(0, 8)}/datasets/synthetic.zip`;
    await expectDownloadError(url, new RegExp(`^Download failed with status 404 \\(NoSuchBucket\\): GET ${escape(url)}: bucket "missing-[0-9a-f]{8}" does not exist$`));
  });

  it('fails with a 404 DownloadError naming the URL when the key does not exist', async () => {
    const url = `s3://${other.bucket}/datasets/missing.zip`;
    await expectDownloadError(url, new RegExp(`^Download failed with status 404 \\(NoSuchKey\\): GET ${escape(url)}: no object "datasets/missing\\.zip" in bucket "${other.bucket}"$`));
  });

  it('rejects an s3:// URL without a key', async () => {
    await expectDownloadError(`s3://${other.bucket}/`, new RegExp(`^Invalid dataset source "s3://${other.bucket}/": expected s3://<bucket>/<key>$`));
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
