import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { objectSha256 } from '../../activities/content-hash.ts';
import { ObjectStore, SHA256_METADATA_KEY } from '../../activities/object-store.ts';
import {
  cacheEntryKey,
  computeStepCacheKey,
  createStepCacheActivities,
  type CacheableKind,
  type CacheKeyEnvironment,
  type CacheKeyRequest,
} from '../../activities/step-cache.ts';
import { changedArtifactInputs, changedCacheKeyParts } from '../../common/cache-key.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');

describe('step cache activities on the real S3 server', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let store: ObjectStore;
  const kind = { version: '1', artifactInputs: ['manifest', 'extra'] };
  const environment = { code: 'c'.repeat(64), engine: 'cpu' };
  const prefix = `cache-test/${randomUUID()}`;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'cache' });
    store = new ObjectStore(servers.storage);
  });

  after(async () => {
    await servers?.stop();
  });

  it('hashes an artifact by streaming its bytes when no hash was recorded', async () => {
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 7, 0xab);
    await store.put(`${prefix}/big.bin`, bytes);
    assert.equal(await objectSha256(store, `${prefix}/big.bin`), sha256(bytes));
  });

  it('uses the sha256 its writer recorded in object metadata', async () => {
    const recorded = 'f'.repeat(64);
    await store.put(`${prefix}/noted.bin`, 'anything', 'application/octet-stream', { [SHA256_METADATA_KEY]: recorded });
    assert.equal(await objectSha256(store, `${prefix}/noted.bin`), recorded);
  });

  it('throws ArtifactNotFoundError naming the object when the artifact is missing', async () => {
    await assert.rejects(objectSha256(store, `${prefix}/missing.bin`), {
      name: 'ArtifactNotFoundError',
      message: `Cannot hash artifact: object not found: s3://${servers.storage.bucket}/${prefix}/missing.bin`,
    });
  });

  it('keys on artifact content, not on its name, and ignores the key order of inputs', async () => {
    await store.put(`${prefix}/a.json`, '{"n": 1}');
    await store.put(`${prefix}/copy-of-a.json`, '{"n": 1}');
    const { key } = await computeStepCacheKey(store, kind, { uses: 'subset', inputs: { manifest: `${prefix}/a.json`, seed: 1, opts: { x: 1, y: 2 } } }, environment);
    const sameContent = await computeStepCacheKey(
      store,
      kind,
      { uses: 'subset', inputs: { opts: { y: 2, x: 1 }, seed: 1, manifest: `${prefix}/copy-of-a.json` } },
      environment,
    );
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.equal(sameContent.key, key);
  });

  it('changes the key when one byte of an artifact, a plain input, the kind, its version, its code or (where results depend on it) the engine changes', async () => {
    const artifact = `${prefix}/b.json`;
    await store.put(artifact, '{"images": 100}');
    const request = { uses: 'subset', inputs: { manifest: artifact, extra: [artifact], seed: 1 } };
    const keyOf = async (of: CacheableKind, with_: CacheKeyRequest, on: CacheKeyEnvironment) => (await computeStepCacheKey(store, of, with_, on)).key;
    const base = await keyOf(kind, request, environment);
    const keys = [
      await keyOf(kind, { ...request, inputs: { ...request.inputs, seed: 2 } }, environment),
      await keyOf(kind, { ...request, uses: 'train' }, environment),
      await keyOf({ ...kind, version: '2' }, request, environment),
      await keyOf(kind, request, { ...environment, code: 'd'.repeat(64) }),
      await keyOf({ ...kind, resultsDependOnEngine: true }, request, { ...environment, engine: 'wasm' }),
    ];
    assert.equal(await keyOf(kind, request, { ...environment, engine: 'wasm' }), base, 'the engine is no part of the key of a kind whose results do not depend on it');
    await store.put(artifact, '{"images": 101}');
    keys.push(await keyOf(kind, request, environment));
    assert.equal(new Set([base, ...keys]).size, 7, 'every change gives a different key');
  });

  it('names the part that changed: artifact contents under inputs, everything else by part', async () => {
    const artifact = `${prefix}/parts.json`;
    await store.put(artifact, '{"images": 1}');
    const request = { uses: 'subset', inputs: { manifest: artifact, seed: 1 } };
    const before = await computeStepCacheKey(store, kind, request, environment);
    assert.deepEqual(before.parts, {
      uses: 'subset',
      version: '1',
      code: environment.code,
      engine: null,
      params: sha256('{"seed":1}'),
      inputs: { manifest: `sha256:${sha256('{"images": 1}')}` },
    });
    await store.put(artifact, '{"images": 2}');
    const after = await computeStepCacheKey(store, kind, { ...request, inputs: { ...request.inputs, seed: 2 } }, { ...environment, code: 'e'.repeat(64) });
    assert.deepEqual(changedCacheKeyParts(before.parts, after.parts), ['code', 'params', 'inputs']);
    assert.deepEqual(changedArtifactInputs(before.parts, after.parts), ['manifest']);
  });

  it('records an entry under cache/<key>.json and finds it again; an unknown key misses', async () => {
    const lookupKinds = (uses: string) => (uses === 'subset' ? kind : undefined);
    const activities = createStepCacheActivities({ store, scratchDir: servers.dir }, lookupKinds);
    const key = sha256(randomUUID());
    assert.equal(await activities.lookupCache(key), null);
    await activities.recordCache({ key, uses: 'subset', outputs: { trainManifest: 'runs/x/train.json' }, workflowId: 'wf-1', stepId: 'subset' });
    assert.ok(await store.exists(cacheEntryKey(key)));
    const entry = await activities.lookupCache(key);
    assert.deepEqual(entry && { ...entry, recordedAt: 'T' }, {
      key,
      uses: 'subset',
      version: '1',
      outputs: { trainManifest: 'runs/x/train.json' },
      workflowId: 'wf-1',
      stepId: 'subset',
      recordedAt: 'T',
      artifacts: {},
    });
    await assert.rejects(activities.computeCacheKey({ uses: 'nope', inputs: {} }), {
      name: 'PipelineSpecError',
      message: 'Cache key failed: unknown step kind "nope"',
    });
  });

  it('treats an unreadable cache entry as a miss', async () => {
    const activities = createStepCacheActivities({ store, scratchDir: servers.dir });
    const key = sha256(randomUUID());
    await store.put(cacheEntryKey(key), '{"not": "an entry"}');
    assert.equal(await activities.lookupCache(key), null);
  });
});
