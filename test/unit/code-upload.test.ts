import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCodeUpload, runCodeSha256s, uploadPipelineCode, uploadRunCode, type CodeArchiveStore } from '../../client/pipelines/code-upload.ts';
import type { RunCode } from '../../client/pipelines/run-code.ts';
import { loadClientStorage } from '../../client/storage-connection.ts';
import { ConfigError, RunCodeError } from '../../common/errors.ts';
import type { ResolvedStep } from '../../common/resolved-pipeline.ts';

/** An in-memory store that records every PUT. */
function memoryStore(initial: string[] = []): CodeArchiveStore & { objects: Map<string, Buffer>; puts: string[] } {
  const objects = new Map<string, Buffer>(initial.map((key) => [key, Buffer.from('stored before')]));
  const puts: string[] = [];
  return {
    location: 's3://test',
    objects,
    puts,
    exists: (key) => Promise.resolve(objects.has(key)),
    put: (key, archive) => {
      puts.push(key);
      objects.set(key, archive);
      return Promise.resolve();
    },
  };
}

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function runStep(id: string, code: string): ResolvedStep {
  return { id, uses: 'run', with: { code, command: ['x'] }, needs: [], queue: 'cpu', retry: { maximumAttempts: 1, initialInterval: '1s', backoffCoefficient: 2 }, timeout: '1m', cache: false };
}

function packaged(sha256: string, steps: string[]): RunCode {
  return { sha256, archive: Buffer.from(`archive ${sha256.slice(0, 1)}`), files: 1, bytes: 3, folder: './fit', steps };
}

describe('uploading run steps’ code', () => {
  it('uploads each archive the spec names once, and nothing that is stored already', async () => {
    const pipeline = { steps: [runStep('fit', `sha256:${A}`), runStep('again', `sha256:${A}`), runStep('other', `sha256:${B}`)] };
    const code = [packaged(A, ['fit', 'again']), packaged(B, ['other'])];
    const store = memoryStore([`code/${B}.tar.gz`]);
    const report = await uploadRunCode(store, pipeline, code);
    assert.deepEqual(report, { uploaded: [A], present: [B] });
    assert.deepEqual(store.puts, [`code/${A}.tar.gz`]);
    assert.equal(store.objects.get(`code/${A}.tar.gz`)?.toString(), 'archive a');
    assert.equal(formatCodeUpload(report, code), `code: uploaded ${A.slice(0, 12)} (fit, again); already stored ${B.slice(0, 12)} (other)`);

    const again = await uploadRunCode(store, pipeline, code);
    assert.deepEqual(again, { uploaded: [], present: [A, B] });
    assert.equal(store.puts.length, 1, 'a second submission uploads nothing');
  });

  it('refuses a sha256:<hex> code that is neither stored nor packaged', async () => {
    await assert.rejects(uploadRunCode(memoryStore(), { steps: [runStep('fit', `sha256:${A}`)] }, []), (error: unknown) => error instanceof RunCodeError && error.message.includes(`s3://test/code/${A}.tar.gz`));
  });

  it('opens no storage for a pipeline without run steps', async () => {
    const noop: ResolvedStep = { ...runStep('n', './fit'), uses: 'noop' };
    assert.deepEqual(runCodeSha256s({ steps: [noop] }), []);
    const report = await uploadPipelineCode({ resolved: { steps: [noop] }, code: [] }, () => assert.fail('storage opened'));
    assert.deepEqual(report, { uploaded: [], present: [] });
    assert.equal(formatCodeUpload(report, []), undefined);
  });
});

describe('the CLI’s object storage settings', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlp-client-storage-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the worker’s S3_* variables, a secret from a file included', async () => {
    await writeFile(join(dir, 'secret'), 's3cr3t-value\n');
    const storage = loadClientStorage({}, { S3_ENDPOINT: 'http://s3.example:9000', S3_BUCKET: 'team-bucket', S3_ACCESS_KEY_ID: 'key', S3_SECRET_ACCESS_KEY_FILE: join(dir, 'secret') });
    assert.deepEqual(storage, { endpoint: 'http://s3.example:9000', region: 'us-east-1', bucket: 'team-bucket', accessKeyId: 'key', secretAccessKey: 's3cr3t-value' });
  });

  it('names what to set when S3_* is incomplete or absent, never the local stack for a remote Temporal', () => {
    assert.throws(() => loadClientStorage({}, { S3_ENDPOINT: 'http://s3.example:9000' }), (error: unknown) => error instanceof ConfigError && /S3_ACCESS_KEY_ID \(or S3_ACCESS_KEY_ID_FILE\) is not set/.test(error.message));
    // No stack runs under this MLP_HOME, and an address names a remote Temporal: only S3_* would do.
    const env = { MLP_HOME: dir, XDG_CONFIG_HOME: dir };
    assert.throws(() => loadClientStorage({ address: 'temporal.example:7233' }, env), (error: unknown) => error instanceof ConfigError && /set S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY \(the worker's settings\)$/.test(error.message));
    assert.throws(() => loadClientStorage({}, env), (error: unknown) => error instanceof ConfigError && /or start the local stack with `mlp stack up`$/.test(error.message));
  });
});
