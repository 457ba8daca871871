import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ActivityFailure, ApplicationFailure, Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { z } from 'zod';
import { syntheticXray, writeSyntheticDataset, zipFolder } from '../../activities/data/synthetic.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { loadPipelineText } from '../../client/pipelines/pipeline-file.ts';
import { submitPipeline } from '../../client/pipelines/pipeline-submit.ts';
import { freePort } from '../../client/servers/launch.ts';
import { spawnWorkerProcess } from '../../client/workers/worker-process.ts';
import { buildZip, renameEntry } from '../helpers/archives.ts';
import { startFileServer, type FileServer } from '../helpers/file-server.ts';
import { startTestServers, type TestServers, testWorkerEnv } from '../helpers/servers.ts';
import { findCause } from '../helpers/failure-cause.ts';

const exec = promisify(execFile);

/**
 * The bad-input catalogue, data / model / configuration part (test/fixtures/bad/README.md lists
 * every case). Bad data and models are found by a step of a real run on a real worker process:
 * the run fails at once (no retry can help) naming the step, the error type and the file or
 * field, and nothing half-written (no dataset manifest, nothing under the run's prefix) is left
 * visible. Bad configuration fails before any run, within seconds, saying what to fix.
 */
describe('bad inputs end to end: data, models and configuration', function () {
  this.timeout(300_000);
  let servers: TestServers;
  let files: FileServer;
  let store: ObjectStore;
  let connection: Connection;
  let client: Client;
  let worker: ChildProcess;
  const prefix = `bad-${randomUUID().slice(0, 8)}`;
  let goodZip: Buffer;
  let png: Buffer;

  function workerEnv(overrides: Record<string, string> = {}): Record<string, string> {
    return testWorkerEnv(servers, { prefix, scratchDir: join(servers.dir, 'scratch') }, { MLP_LOG_LEVEL: 'warn', ...overrides });
  }

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'bad-inputs' });
    store = new ObjectStore(servers.storage);
    files = await startFileServer();
    const data = join(servers.dir, 'synthetic');
    await writeSyntheticDataset({ dir: data, seed: 5, size: 32, counts: { train: { NORMAL: 8, PNEUMONIA: 8 }, test: { NORMAL: 4, PNEUMONIA: 4 } } });
    await zipFolder(data, join(servers.dir, 'good.zip'));
    goodZip = await readFile(join(servers.dir, 'good.zip'));
    png = syntheticXray(5, 'NORMAL', 0, 32);
    connection = await Connection.connect({ address: servers.temporalAddress });
    client = new Client({ connection, namespace: servers.namespace });
    worker = spawnWorkerProcess({ env: workerEnv(), logFile: join(servers.dir, 'worker.log') });
  });

  after(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.kill('SIGKILL');
      await exited;
    }
    await connection?.close();
    await files?.close();
    await servers?.stop();
  });

  function serve(name: string, body: Buffer): string {
    files.files.set(`/${name}`, { body });
    return `${files.baseUrl}/${name}`;
  }

  /** download → subset of `url`, or → train with `model` when given. Retries allowed, so a retried bad input would show. */
  function pipeline(url: string, options: { sha256?: string; model?: string } = {}): string {
    return [
      'apiVersion: mlp/v1',
      'name: bad-input',
      'defaults: { timeout: 2m, heartbeatTimeout: 30s, cache: false, retry: { initialInterval: 200ms, maximumAttempts: 3 } }',
      'steps:',
      '  - id: download',
      '    uses: download',
      `    with: { url: "${url}"${options.sha256 ? `, sha256: "${options.sha256}"` : ''} }`,
      '  - id: subset',
      '    uses: subset',
      '    needs: [download]',
      '    with: { datasetManifest: "${{ steps.download.outputs.datasetManifest }}", fractions: { train: 0.75, val: 0.25 }, imageSize: 32 }',
      ...(options.model
        ? [
            '  - id: train',
            '    uses: train',
            '    needs: [subset]',
            '    with:',
            '      mode: partial',
            '      trainManifest: ${{ steps.subset.outputs.trainManifest }}',
            '      valManifest: ${{ steps.subset.outputs.valManifest }}',
            `      model: ${options.model}`,
            '      optimizer: { name: adam, learningRate: 0.001 }',
            '      epochs: 1',
            '      engine: wasm',
          ]
        : []),
    ].join('\n');
  }

  async function manifests(): Promise<string[]> {
    return (await store.list('datasets/')).filter((key) => key.endsWith('manifest.json'));
  }

  /**
   * Runs the pipeline and expects it to fail at `step` with `type` and `message`, on its first
   * attempt, with the run FAILED, nothing under the step's prefix and, for a failed download, no new dataset manifest.
   */
  async function expectRunFailure(text: string, step: string, type: string, message: RegExp): Promise<void> {
    const manifestsBefore = await manifests();
    const { resolved } = loadPipelineText(text, 'inline.yaml');
    const { handle, workflowId } = await submitPipeline(client, resolved, { runKey: randomUUID().slice(0, 8), taskQueuePrefix: prefix });
    const error: unknown = await handle.result().then(
      () => assert.fail('the run succeeded'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof WorkflowFailedError, String(error));
    const activity = findCause(error, ActivityFailure);
    const application = findCause(activity ?? error, ApplicationFailure);
    assert.ok(activity && application, `an activity failure under ${String(error)}`);
    assert.equal(activity.activityId, step);
    assert.equal(application.type, type, application.message);
    assert.match(application.message, message);
    assert.equal((await handle.describe()).status.name, 'FAILED');
    const history = await handle.fetchHistory();
    const attempts = (history.events ?? []).flatMap((event) => event.activityTaskStartedEventAttributes?.attempt ?? []);
    assert.equal(Math.max(...attempts), 1, 'not retried: no retry can fix a bad input');
    if (step === 'download') assert.deepEqual(await manifests(), manifestsBefore, 'no dataset manifest for a failed import');
    assert.deepEqual(await store.list(`runs/${workflowId}/${step}/`), [], 'nothing under the failed step\'s prefix');
  }

  describe('data', () => {
    it('a zip bomb: ArchiveError naming the entry and its compression ratio', async () => {
      const zip = await buildZip([{ name: 'train/NORMAL/bomb.png', data: Buffer.alloc(8 * 1024 * 1024), compress: true }]);
      await expectRunFailure(pipeline(serve('bomb.zip', zip)), 'download', 'ArchiveError', /^Refusing entry "train\/NORMAL\/bomb\.png" in http:\/\/127\.0\.0\.1:\d+\/bomb\.zip: compression ratio \d+ exceeds 100 \(zip bomb\?\)$/);
    });

    it('a symlink entry: ArchiveError naming the entry', async () => {
      const zip = await buildZip([
        { name: 'train/NORMAL/a.png', data: png },
        { name: 'train/PNEUMONIA/link.png', data: '/etc/passwd', mode: 0o120777 },
      ]);
      await expectRunFailure(pipeline(serve('link.zip', zip)), 'download', 'ArchiveError', /^Refusing symlink entry "train\/PNEUMONIA\/link\.png" in http:\/\/127\.0\.0\.1:\d+\/link\.zip$/);
    });

    it('a zip-slip entry (../): ArchiveError naming the path', async () => {
      const zip = renameEntry(await buildZip([{ name: 'xx/train/NORMAL/a.png', data: png }]), 'xx/train/NORMAL/a.png', '../train/NORMAL/a.png');
      await expectRunFailure(pipeline(serve('slip.zip', zip)), 'download', 'ArchiveError', /^Unsafe entry in http:\/\/127\.0\.0\.1:\d+\/slip\.zip: invalid relative path: \.\.\/train\/NORMAL\/a\.png$/);
    });

    it('a truncated zip: ArchiveError naming the URL', async () => {
      await expectRunFailure(pipeline(serve('cut.zip', goodZip.subarray(0, goodZip.length - 2000))), 'download', 'ArchiveError', /^Cannot read zip archive http:\/\/127\.0\.0\.1:\d+\/cut\.zip: truncated or corrupt/);
    });

    it('a URL that answers 404: DownloadError with the status and URL', async () => {
      await expectRunFailure(pipeline(`${files.baseUrl}/missing.zip`), 'download', 'DownloadError', /^Download failed with status 404: GET http:\/\/127\.0\.0\.1:\d+\/missing\.zip$/);
    });

    it('an archive whose sha256 differs from its pin: ChecksumMismatchError with both hashes', async () => {
      await expectRunFailure(pipeline(serve('pinned.zip', goodZip), { sha256: '0'.repeat(64) }), 'download', 'ChecksumMismatchError', /^Checksum mismatch for .*pinned\.zip: expected sha256 0{64}, got [0-9a-f]{64}$/);
    });

    it('an archive without split/class folders: DatasetError saying which layout is expected', async () => {
      await expectRunFailure(pipeline(serve('flat.zip', await buildZip([{ name: 'images/a.png', data: png }]))), 'download', 'DatasetError', /^No \{train,val,test\}\/<CLASS> folders found in http:/);
    });

    it('a binary file that is not an archive: ArchiveError', async () => {
      await expectRunFailure(pipeline(serve('noise.zip', Buffer.from(Array.from({ length: 4096 }, (_, index) => (index * 7919) % 256)))), 'download', 'ArchiveError', /^Cannot extract http:\/\/127\.0\.0\.1:\d+\/noise\.zip: not a zip, tar or tar\.gz archive$/);
    });
  });

  describe('model', () => {
    it('backbone weights that are not there: DownloadError naming the file', async () => {
      const model = `{ backbone: vgg19, inputSize: 32, weights: "file://${servers.dir}/no-such-weights.h5", head: [{ type: flatten }, { type: dense, units: 2, activation: softmax }] }`;
      await expectRunFailure(pipeline(serve('good-1.zip', goodZip), { model }), 'train', 'DownloadError', /^Weights file not found: file:\/\/.*\/no-such-weights\.h5$/);
    });

    it('a weights file that is not HDF5: WeightsFileError naming the file', async () => {
      const model = `{ backbone: vgg19, inputSize: 32, weights: "${serve('garbage.h5', Buffer.from('this is not an HDF5 file'))}", head: [{ type: flatten }, { type: dense, units: 2, activation: softmax }] }`;
      await expectRunFailure(pipeline(serve('good-2.zip', goodZip), { model }), 'train', 'WeightsFileError', /garbage\.h5/);
    });
  });

  describe('configuration', () => {
    it('wrong S3 credentials: the worker refuses to start with a ConfigError naming the endpoint, access key id and bucket, never the secret', async () => {
      const wrongSecret = `wrong-${randomUUID()}`;
      const logFile = join(servers.dir, 'wrong-credentials.log');
      const child = spawnWorkerProcess({ env: workerEnv({ S3_SECRET_ACCESS_KEY: wrongSecret, MLP_TASK_QUEUE_PREFIX: `${prefix}-wrong` }), logFile });
      const started = Date.now();
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      const log = await readFile(logFile, 'utf8');
      assert.notEqual(code, 0, log);
      assert.ok(Date.now() - started < 60_000);
      assert.ok(
        log.includes(`ConfigError: S3 server ${servers.storage.endpoint} refused the credentials of access key ${servers.storage.accessKeyId} for bucket ${servers.storage.bucket}`),
        log,
      );
      assert.match(log, /check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY/);
      assert.ok(!log.includes(wrongSecret), 'the secret is not printed');
    });

    it('an unreachable Temporal address: mlp run says so within seconds, exit code 1', async () => {
      const port = await freePort();
      const started = Date.now();
      const result = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', 'run', 'test/fixtures/pipelines/diamond.yaml', '--address', `127.0.0.1:${port}`]).then(
        () => assert.fail('mlp run succeeded'),
        (error: unknown) => z.object({ code: z.number(), stderr: z.string() }).parse(error),
      );
      const seconds = (Date.now() - started) / 1000;
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`ConfigError: Cannot connect to Temporal at 127\\.0\\.0\\.1:${port}: .*\\(start the local stack with \`mlp stack up\`, or set --address\\)`));
      // tsx start-up included; the connect timeout itself is 5 s.
      assert.ok(seconds < 30, `answered in ${seconds} s`);
    });

    it('an invalid worker setting: ConfigError naming the variable and the allowed values', async () => {
      const logFile = join(servers.dir, 'bad-engine.log');
      const child = spawnWorkerProcess({ env: workerEnv({ MLP_ENGINE: 'quantum' }), logFile });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      const log = await readFile(logFile, 'utf8');
      assert.notEqual(code, 0);
      assert.match(log, /^worker failed: ConfigError: Invalid worker environment:\n {2}MLP_ENGINE: Invalid option: expected one of "auto"\|.*"wasm"\|"cpu"$/m);
      assert.ok(!log.includes(servers.storage.secretAccessKey), 'the secret is not printed');
    });
  });
});

