import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { createDownloadActivity } from '../../activities/steps/download.ts';
import { createSubsetActivity } from '../../activities/steps/subset.ts';
import { loadSplitManifest } from '../../activities/data/split-reader.ts';
import { createNoopActivity } from '../../activities/steps/noop.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { createStepCacheActivities } from '../../activities/step-cache.ts';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../../common/search-attributes.ts';
import type { StepOutputs } from '../../common/step-activities.ts';
import { buildZip, type ZipEntry } from '../helpers/archives.ts';
import { startFileServer, type FileServer } from '../helpers/file-server.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { CHEST_XRAY_224_DIR } from '../helpers/shared-assets.ts';

describe('download → subset through runPipeline on the real Temporal dev server and S3 server', function () {
  this.timeout(180_000);
  let servers: TestServers;
  let workers: PipelineWorkers;
  let http: FileServer;
  let store: ObjectStore;
  let scratch: string;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'data-pipeline' });
    http = await startFileServer();
    store = new ObjectStore(servers.storage);
    scratch = await mkdtemp(join(tmpdir(), 'mlp-data-pipeline-'));
    const deps = { store, scratchDir: scratch };
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'data',
      activities: { ...createNoopActivity(deps), ...createStepCacheActivities(deps), ...createDownloadActivity(deps), ...createSubsetActivity(deps) },
    });
  });

  after(async () => {
    await workers?.stop();
    await http?.close();
    await servers?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('retries a download whose connection dropped, resumes it with Range, and feeds the subset step', async () => {
    const entries: ZipEntry[] = [];
    for (const cls of ['NORMAL', 'PNEUMONIA']) {
      for (const name of (await readdir(join(CHEST_XRAY_224_DIR, 'train', cls))).sort().slice(0, 20)) {
        entries.push({ name: `chest_xray/train/${cls}/${name}`, data: await readFile(join(CHEST_XRAY_224_DIR, 'train', cls, name)) });
      }
    }
    const zip = await buildZip(entries);
    http.files.set('/ChestXRay.zip', { body: zip, dropAfter: Math.floor(zip.length / 2) });

    const spec = testPipeline('data', [
      testStep('download', 'download', { with: { url: `${http.baseUrl}/ChestXRay.zip`, format: 'zip' }, heartbeatTimeout: '30s' }),
      testStep('subset', 'subset', {
        needs: ['download'],
        heartbeatTimeout: '30s',
        with: {
          datasetManifest: '${{ steps.download.outputs.datasetManifest }}',
          seed: 3,
          fractions: { train: 0.5, val: 0.25, test: 0.25 },
          testFrom: 'train',
          imageSize: 64,
          channels: 3,
        },
      }),
    ]);
    const handle = await workers.client.workflow.start(
      'runPipeline',
      pipelineStartOptions(spec, { workflowId: `data-${randomUUID().slice(0, 8)}`, taskQueuePrefix: workers.taskQueuePrefix }),
    );
    const outputs: Record<string, StepOutputs> = z.record(z.string(), z.record(z.string(), z.unknown())).parse(await handle.result());

    const requests = http.requests.filter((r) => r.path === '/ChestXRay.zip');
    assert.deepEqual(requests.map((r) => r.status), [200, 206], 'first attempt dropped, the retry resumed');
    assert.match(requests[1]?.range ?? '', /^bytes=[1-9]\d*-$/);
    const download = outputs.download ?? {};
    assert.deepEqual(download.counts, { train: { NORMAL: 20, PNEUMONIA: 20 } });
    assert.ok(Number(download.resumedFrom) > 0);

    const subset = outputs.subset ?? {};
    assert.deepEqual(subset.counts, {
      train: { NORMAL: 10, PNEUMONIA: 10 },
      val: { NORMAL: 5, PNEUMONIA: 5 },
      test: { NORMAL: 5, PNEUMONIA: 5 },
    });
    const train = await loadSplitManifest(store, String(subset.trainManifest));
    assert.equal(train.datasetHash, download.datasetHash);
    assert.equal(train.images.length, 20);

    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(PIPELINE_SEARCH_ATTRIBUTES.DatasetHash), download.datasetHash);
  });
});
