import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ObjectStore } from '../../activities/object-store.ts';
import { ChecksumMismatchError } from '../../common/errors.ts';
import { DEMO_PIPELINE, OFFLINE_DEMO_PIPELINE, resolveDemoSources, type ResolveDemoSourcesOptions } from '../../client/demo/sources/resolve.ts';
import type { DemoPublicSources } from '../../client/demo/sources/public-sources.ts';
import { freePort } from '../../client/servers/launch.ts';
import { startFileServer, type FileServer } from '../helpers/file-server.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** A two-shard TF.js-style model and an archive, served by a local HTTP server standing in for the public hosts. */
function publicFiles(server: FileServer, prefix: string): { sources: DemoPublicSources; archive: Buffer } {
  const shards = { 'group1-shard1of1': randomBytes(3000), 'group2-shard1of1': randomBytes(5000) };
  const modelJson = Buffer.from(JSON.stringify({ format: 'layers-model', weightsManifest: [{ paths: Object.keys(shards), weights: [] }] }));
  const archive = randomBytes(200_000);
  server.files.set(`/${prefix}/model/model.json`, { body: modelJson });
  for (const [name, body] of Object.entries(shards)) server.files.set(`/${prefix}/model/${name}`, { body });
  server.files.set(`/${prefix}/archive.zip`, { body: archive });
  return {
    archive,
    sources: {
      backbone: {
        modelUrl: `${server.baseUrl}/${prefix}/model/model.json`,
        pins: new Map([['model.json', sha256(modelJson)], ...Object.entries(shards).map(([name, body]) => [name, sha256(body)] as [string, string])]),
        storePrefix: `sources/${prefix}/model`,
      },
      dataset: { url: `${server.baseUrl}/${prefix}/archive.zip`, sha256: undefined, storePrefix: `sources/${prefix}/archive`, title: 'the test archive' },
    },
  };
}

/**
 * Where the demo's data and model come from (client/demo/sources/resolve.ts), in order: what the
 * user set, the development copy, the public sources (fetched once into object storage, pinned,
 * the archive trusted on first use), else offline on synthetic images. Real S3 server, real HTTP.
 */
describe('the demo finds its data and model: yours, the development copy, the public sources, else offline', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let server: FileServer;
  let store: ObjectStore;
  let work: string;
  let noShared: NodeJS.ProcessEnv;

  before(async () => {
    [servers, server] = await Promise.all([startTestServers({ bucketPrefix: 'sources' }), startFileServer()]);
    store = new ObjectStore(servers.storage);
    work = await mkdtemp(join(tmpdir(), 'mlp-demo-sources-'));
    // An empty folder as the development copy: as on a machine that has none.
    noShared = { MLP_SHARED_DIR: join(work, 'no-shared') };
  });

  after(async () => {
    await Promise.all([servers?.stop(), server?.close()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  const options = (home: string, extra: Partial<ResolveDemoSourcesOptions> = {}): ResolveDemoSourcesOptions => ({
    userSettings: [],
    stackHome: home,
    storage: servers.storage,
    env: noShared,
    connectTimeoutMs: 5000,
    ...extra,
  });
  const requestsFor = (prefix: string) => server.requests.filter((request) => request.path.startsWith(`/${prefix}/`));

  it('takes what the user set, asking nothing of anyone', async () => {
    const { sources } = publicFiles(server, 'explicit');
    const found = await resolveDemoSources(options(join(work, 'explicit'), { userSettings: ['dataset=file:///data/x', 'backboneWeights=/m/model.json'], publicSources: sources }));
    assert.equal(found.kind, 'explicit');
    assert.equal(found.pipeline, DEMO_PIPELINE);
    assert.deepEqual(found.settings, []);
    assert.match(found.line, /dataset file:\/\/\/data\/x, backbone \/m\/model\.json \(--set\)/);
    assert.deepEqual(requestsFor('explicit'), []);
  });

  it('prefers the development copy (MLP_SHARED_DIR) to the public sources', async () => {
    const shared = join(work, 'shared');
    await mkdir(join(shared, 'data', 'chest-xray-224'), { recursive: true });
    await mkdir(join(shared, 'models', 'mobilenet_v1_0.75_224'), { recursive: true });
    await writeFile(join(shared, 'models', 'mobilenet_v1_0.75_224', 'model.json'), '{}');
    const { sources } = publicFiles(server, 'shared');
    const found = await resolveDemoSources(options(join(work, 'shared-home'), { env: { MLP_SHARED_DIR: shared }, publicSources: sources }));
    assert.equal(found.kind, 'development copy');
    assert.match(found.line, /local development copy in .*shared \(MLP_SHARED_DIR\)/);
    assert.deepEqual(found.settings, [
      `dataset=file://${join(shared, 'data', 'chest-xray-224')}`,
      `backboneWeights=${join(shared, 'models', 'mobilenet_v1_0.75_224', 'model.json')}`,
    ]);
    assert.deepEqual(requestsFor('shared'), []);
  });

  it('fetches the public sources once, verified, into object storage; a second run makes no request', async () => {
    const home = join(work, 'public');
    const { sources, archive } = publicFiles(server, 'public');
    const progress: number[] = [];
    const first = await resolveDemoSources(options(home, { publicSources: sources, onProgress: (p) => progress.push(p.bytesDone) }));
    assert.equal(first.kind, 'public');
    const archiveKey = `sources/public/archive/${sha256(archive)}.zip`;
    assert.deepEqual(first.settings, [`dataset=s3://${servers.storage.bucket}/${archiveKey}`, `backboneWeights=s3://${servers.storage.bucket}/sources/public/model/model.json`]);
    assert.match(first.line, /trusted on first use and recorded.*fetched once into object storage/);
    assert.deepEqual((await store.list('sources/public/')).sort(), [archiveKey, 'sources/public/model/group1-shard1of1', 'sources/public/model/group2-shard1of1', 'sources/public/model/model.json']);
    assert.deepEqual(await store.get(archiveKey), archive);
    assert.ok(progress.length > 0 && progress.at(-1) === archive.length, 'progress reports bytes up to the whole archive');
    const record = JSON.parse(await readFile(join(home, 'public-sources.json'), 'utf8')) as Record<string, { sha256: string }>;
    assert.equal(record[sources.dataset.url]?.sha256, sha256(archive));
    const requestsAfterFirst = requestsFor('public').length;
    assert.equal(requestsAfterFirst, 4);

    const second = await resolveDemoSources(options(home, { publicSources: sources }));
    assert.deepEqual(second.settings, first.settings);
    assert.match(second.line, /already in object storage, no request made/);
    assert.equal(requestsFor('public').length, requestsAfterFirst, 'the second run asked the public hosts nothing');
  });

  it('refuses a model file that does not match its pin before anything is stored', async () => {
    const { sources } = publicFiles(server, 'badpin');
    const pins = new Map(sources.backbone.pins);
    pins.set('group2-shard1of1', '0'.repeat(64));
    await assert.rejects(
      resolveDemoSources(options(join(work, 'badpin'), { publicSources: { ...sources, backbone: { ...sources.backbone, pins } } })),
      (error: unknown) => error instanceof ChecksumMismatchError && /group2-shard1of1 has sha256 [0-9a-f]{64}, but is pinned to 0{64}; nothing was stored/.test(error.message),
    );
    assert.deepEqual(await store.list('sources/badpin/'), []);
  });

  it('refuses an archive that changed since its first use, and stores nothing of it', async () => {
    const home = join(work, 'changed');
    const { sources } = publicFiles(server, 'changed');
    const first = await resolveDemoSources(options(home, { publicSources: sources }));
    const firstKey = first.settings[0]?.replace(`dataset=s3://${servers.storage.bucket}/`, '') ?? '';
    // The stored copy is lost (a wiped bucket) and the host now serves other bytes.
    await store.remove(firstKey);
    server.files.set('/changed/archive.zip', { body: randomBytes(1000) });
    await assert.rejects(
      resolveDemoSources(options(home, { publicSources: sources })),
      (error: unknown) => error instanceof ChecksumMismatchError && /now has sha256 .* but the sha256 recorded when it was first fetched .* nothing was stored/.test(error.message),
    );
    assert.deepEqual((await store.list('sources/changed/archive/')), []);
  });

  it('runs offline on synthetic images when the public hosts cannot be reached, and resumes a broken download later', async () => {
    const home = join(work, 'offline');
    const { sources, archive } = publicFiles(server, 'resume');
    // The archive's connection breaks half-way on the first request: that run goes offline.
    server.files.set('/resume/archive.zip', { body: archive, dropAfter: 120_000 });
    const offline = await resolveDemoSources(options(home, { publicSources: sources }));
    assert.equal(offline.kind, 'offline');
    assert.equal(offline.pipeline, OFFLINE_DEMO_PIPELINE);
    assert.match(offline.line, /^sources: OFFLINE — .*broke off after \d+ bytes.*: running on SYNTHETIC images/);
    assert.match(offline.resultsNote ?? '', /SYNTHETIC images .* not real chest X-rays/);
    const dataset = fileURLToPath(offline.settings[0]?.replace(/^dataset=/, '') ?? '');
    assert.ok((await stat(join(dataset, 'train', 'PNEUMONIA'))).isDirectory(), 'the synthetic dataset is written');

    const online = await resolveDemoSources(options(home, { publicSources: sources }));
    assert.equal(online.kind, 'public');
    const archiveRequests = requestsFor('resume').filter((request) => request.path === '/resume/archive.zip');
    assert.equal(archiveRequests.at(-1)?.status, 206, 'the second run resumed with a Range request');
    assert.match(archiveRequests.at(-1)?.range ?? '', /^bytes=\d+-$/);
    assert.deepEqual(await store.get(`sources/resume/archive/${sha256(archive)}.zip`), archive);

    // A host that answers, then goes silent mid-body: given up after the timeout, not waited on forever.
    const { sources: silent } = publicFiles(server, 'silent');
    server.files.set('/silent/archive.zip', { body: randomBytes(50_000), stallAfter: 10_000 });
    const stalled = await resolveDemoSources(options(join(work, 'silent'), { publicSources: silent, connectTimeoutMs: 1000 }));
    assert.equal(stalled.kind, 'offline');
    assert.match(stalled.line, /broke off after 10000 bytes \(nothing received for 1 s\); the next run resumes it/);

    const closed = `http://127.0.0.1:${await freePort('127.0.0.1')}`;
    const unreachable = { ...sources, backbone: { ...sources.backbone, modelUrl: `${closed}/model.json`, storePrefix: 'sources/none/model' } };
    const refused = await resolveDemoSources(options(home, { publicSources: unreachable }));
    assert.equal(refused.kind, 'offline');
    assert.match(refused.line, /Cannot reach http:\/\/127\.0\.0\.1:\d+\/model\.json \(connect ECONNREFUSED/);
    assert.ok(!existsSync(join(home, 'downloads', 'none')));
  });
});
