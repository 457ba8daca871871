import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { writeSyntheticDataset, zipFolder } from '../../activities/data/synthetic.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { loadPipelineFile } from '../../client/pipelines/pipeline-file.ts';
import { submitPipeline } from '../../client/pipelines/pipeline-submit.ts';
import { resolveTemporalBinary } from '../../client/servers/binaries.ts';
import { spawnWorkerProcess } from '../../client/workers/worker-process.ts';
import { startFileServer, type FileServer } from '../helpers/file-server.ts';
import { historyTextWithPayloads } from '../helpers/history-json.ts';
import { killNow } from '../helpers/kill-process.ts';
import { startTestServers, type TestServers, testWorkerEnv } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const exec = promisify(execFile);

const TINY = 'test/fixtures/faults/tiny-pipeline.yaml';
const CHAIN = 'test/fixtures/pipelines/sleepy-chain.yaml';
const TINY_DATA = 'test/fixtures/faults/tiny-data.yaml';
const ZIP_PATH = '/ChestXRay-tiny.zip';
/** How long the S3 outage test keeps the S3 server down. */
const OUTAGE_MS = 12_000;

/** Temporal's PendingActivityState.STARTED: a worker holds the attempt. */
const STARTED = 2;

/** Figures the README's reliability table quotes; printed at the end of the run. */
const measured: Record<string, string> = {};

/**
 * Faults on real processes: real Temporal dev server (on a SQLite file, so it can be killed and
 * restarted), real S3 server, and worker *processes* (workflows and activities apart, as `mlp
 * worker` runs them) that the tests SIGKILL. Tiny synthetic data and 5 s heartbeat timeouts keep
 * each recovery to seconds.
 */
describe('faults on real processes: runs survive killed workers, a killed Temporal server and an S3 outage', function () {
  this.timeout(600_000);
  let servers: TestServers;
  let files: FileServer;
  let store: ObjectStore;
  let connection: Connection;
  let client: Client;
  let activitiesWorker: ChildProcess;
  const children: ChildProcess[] = [];
  const logs: string[] = [];
  const prefix = `faults-${randomUUID().slice(0, 8)}`;
  let dataset = '';
  /** The run the worker kills hit: the security checks read its history and CLI views. */
  let tinyRunId = '';

  /** A worker process with the given role, configured only through its environment (as users run it). */
  function startWorker(role: 'workflows' | 'activities'): ChildProcess {
    const logFile = join(servers.dir, `worker-${role}-${children.length}.log`);
    logs.push(logFile);
    const child = spawnWorkerProcess({
      logFile,
      env: testWorkerEnv(servers, { prefix, scratchDir: join(servers.dir, `scratch-${children.length}`) }, { MLP_WORKER_ROLE: role, MLP_LOG_LEVEL: 'info' }),
    });
    children.push(child);
    return child;
  }

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'faults', persistTemporal: true });
    store = new ObjectStore(servers.storage);
    const data = join(servers.dir, 'synthetic');
    await writeSyntheticDataset({
      dir: data,
      seed: 11,
      size: 48,
      counts: { train: { NORMAL: 32, PNEUMONIA: 32 }, test: { NORMAL: 12, PNEUMONIA: 12 } },
    });
    const zip = join(servers.dir, 'tiny.zip');
    await zipFolder(data, zip);
    files = await startFileServer();
    dataset = `${files.baseUrl}${ZIP_PATH}`;
    // The first request stalls after 1 kB: the download is certainly running when its worker dies.
    files.files.set(ZIP_PATH, { body: await readFile(zip), stallAfter: 1024 });
    connection = await Connection.connect({ address: servers.temporalAddress });
    client = new Client({ connection, namespace: servers.namespace });
    startWorker('workflows');
    activitiesWorker = startWorker('activities');
  });

  after(async () => {
    for (const child of children) await killNow(child);
    await connection?.close();
    await files?.close();
    await servers?.stop();
    if (Object.keys(measured).length > 0) console.log(`      measured: ${JSON.stringify(measured)}`);
  });

  /** `waitUntil` through outages: a probe that fails (its server is down) only means "not yet". */
  function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
    return waitUntil(`${what} (logs: ${servers.dir})`, () => probe().catch(() => undefined), { timeoutMs, intervalMs: 50 });
  }

  /** Waits until a worker holds an attempt of `stepId` (pending activity STARTED); returns the attempt number. */
  async function stepStarted(handle: WorkflowHandle, stepId: string): Promise<number> {
    return until(`step ${stepId} to start`, async () => {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      const step = pending.find((activity) => activity.activityId === stepId && activity.state === STARTED);
      return step ? (step.attempt ?? 1) : undefined;
    });
  }

  async function start(file: string, settings: string[], runKey = randomUUID().slice(0, 8)) {
    const { resolved } = await loadPipelineFile(file, settings);
    return submitPipeline(client, resolved, { runKey, taskQueuePrefix: prefix });
  }

  /** Per step: the attempt that completed it and the failure of the attempt before, from the history. */
  async function attempts(handle: WorkflowHandle): Promise<Map<string, { attempt: number; lastFailure?: string }>> {
    const history = await handle.fetchHistory();
    const scheduled = new Map<string, string>();
    const result = new Map<string, { attempt: number; lastFailure?: string }>();
    for (const event of history.events ?? []) {
      const id = String(event.eventId);
      const scheduledAttributes = event.activityTaskScheduledEventAttributes;
      if (scheduledAttributes) scheduled.set(id, scheduledAttributes.activityId ?? '');
      const started = event.activityTaskStartedEventAttributes;
      if (started) {
        const message = started.lastFailure?.message ?? started.lastFailure?.cause?.message;
        result.set(scheduled.get(String(started.scheduledEventId)) ?? '', { attempt: started.attempt ?? 1, ...(message ? { lastFailure: message } : {}) });
      }
    }
    return result;
  }

  const stepOutputs = z.record(z.string(), z.record(z.string(), z.unknown()));

  it('finishes a run whose worker is SIGKILLed during download, subset, train and evaluate: a fresh worker takes each step over after its heartbeat timeout', async () => {
    const { handle, workflowId } = await start(TINY, [`dataset=${dataset}`, 'epochs=3']);
    tinyRunId = workflowId;
    const killedAt: Record<string, number> = {};

    // download: the archive request is stalled, so the step is certainly mid-download.
    await stepStarted(handle, 'download');
    await until('the archive request', async () => (files.requests.some((request) => request.path === ZIP_PATH) ? true : undefined));
    await killNow(activitiesWorker);
    killedAt.download = Date.now();
    activitiesWorker = startWorker('activities');

    // subset: killed as soon as a worker holds it.
    await stepStarted(handle, 'subset');
    await killNow(activitiesWorker);
    activitiesWorker = startWorker('activities');

    // train: killed once epoch 1 is checkpointed, so the retry has something to resume from.
    await stepStarted(handle, 'train');
    const checkpointsAtKill = await until('the epoch-1 checkpoint', async () => {
      const epochs = await checkpointEpochs(workflowId);
      return epochs.includes(1) ? epochs : undefined;
    });
    await killNow(activitiesWorker);
    activitiesWorker = startWorker('activities');

    // evaluate: killed as soon as a worker holds it.
    await stepStarted(handle, 'evaluate');
    await killNow(activitiesWorker);
    activitiesWorker = startWorker('activities');

    const outputs = stepOutputs.parse(await handle.result());
    const byStep = await attempts(handle);
    for (const step of ['download', 'subset', 'train', 'evaluate']) {
      const record = byStep.get(step);
      assert.ok(record && record.attempt >= 2, `${step} was finished by a later attempt (${JSON.stringify(record)})`);
      assert.match(record.lastFailure ?? '', /heartbeat|timeout/i, `${step}'s killed attempt ended on its heartbeat timeout`);
    }

    // subset: every image of the archive in exactly one split, each at its own shard row, and the
    // shard listing holds exactly the shards the manifests name (none missing, none left over by
    // the killed attempt).
    const subset = outputs.subset ?? {};
    const images: { sha256: string; key: string; row: number }[] = [];
    for (const name of ['trainManifest', 'valManifest', 'testManifest']) {
      const manifest = z.looseObject({ images: z.array(z.looseObject({ sha256: z.string(), key: z.string(), row: z.number() })) }).parse(await store.getJson(String(subset[name])));
      images.push(...manifest.images);
    }
    assert.equal(images.length, 48 + 16 + 24, 'train 48 + val 16 + test 24: every image of the archive is in a split');
    assert.equal(new Set(images.map((image) => image.sha256)).size, images.length, 'no image twice');
    assert.equal(new Set(images.map((image) => `${image.key}#${image.row}`)).size, images.length, 'no two images share a shard row');
    const shards = [...new Set(images.map((image) => image.key))].sort();
    const shardPrefix = shards[0]?.replace(/[^/]+$/, '') ?? '';
    assert.match(shardPrefix, /^datasets\/preprocessed\/w32-h32-fill-gray-v2\/shards\/$/);
    assert.deepEqual(await store.list(shardPrefix), shards, 'the stored shards are exactly those the manifests name');

    // train: at most one epoch done twice; the history has each epoch once.
    const train = outputs.train ?? {};
    const resumedFrom = Number(train.resumedFromEpoch);
    const redone = Math.max(...checkpointsAtKill) - resumedFrom;
    assert.ok(resumedFrom >= 1, `train resumed from a checkpoint (resumedFromEpoch ${resumedFrom})`);
    assert.ok(redone <= 1, `at most one epoch redone (checkpointed ${checkpointsAtKill.join(',')} before the kill, resumed from ${resumedFrom})`);
    const history = z.object({ history: z.array(z.looseObject({ epoch: z.number() })) }).parse(await store.getJson(String(train.history)));
    assert.deepEqual(history.history.map((epoch) => epoch.epoch), [1, 2, 3]);
    assert.equal(typeof (outputs.evaluate ?? {}).metrics, 'object');
    measured.workerKillRecovery = `4 kills, run finished ${((Date.now() - (killedAt.download ?? 0)) / 1000).toFixed(0)} s after the first`;
  });

  it('finishes a run across a Temporal server SIGKILL and restart on the same SQLite file', async () => {
    const { handle } = await start(CHAIN, ['sleepMs=1500']);
    await stepStarted(handle, 'two');
    await servers.kill('temporal');
    const killed = Date.now();
    await servers.restart('temporal');
    const healthy = Date.now();
    // The connection reconnects by itself: the same handle reads the result.
    const result = z.record(z.string(), z.unknown()).parse(await handle.result());
    const finished = Date.now();
    assert.deepEqual(Object.keys(result).sort(), ['four', 'one', 'three', 'two']);
    assert.equal((await handle.describe()).status.name, 'COMPLETED');
    measured.temporalRestart = `healthy ${((healthy - killed) / 1000).toFixed(1)} s after SIGKILL; run finished ${((finished - healthy) / 1000).toFixed(1)} s later`;
  });

  it('finishes a run across an S3 outage mid-train: the step fails on the connection, retries with backoff, then completes', async () => {
    // Training holds the step for seconds and writes a checkpoint after every epoch: a step that
    // is certainly running when S3 goes away (a subset of already preprocessed images may be done
    // before a poll sees it).
    const { handle, workflowId } = await start(TINY, [`dataset=${dataset}`, 'epochs=3']);
    await stepStarted(handle, 'train');
    await servers.kill('s3');
    const down = Date.now();
    await until('a failed train attempt', async () => {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      const train = pending.find((activity) => activity.activityId === 'train');
      return train && (train.attempt ?? 1) >= 2 ? true : undefined;
    }, 60_000);
    // The outage itself lasts 12 s (its length is the fault, not a proof of anything).
    await sleep(Math.max(0, down + OUTAGE_MS - Date.now()));
    await servers.restart('s3');
    const outage = (Date.now() - down) / 1000;
    const up = Date.now();
    await handle.result();
    const train = (await attempts(handle)).get('train');
    assert.ok(train && train.attempt >= 3, `train retried through the outage (${JSON.stringify(train)})`);
    // Retries 0.5, 1, 2, 4, 4… s apart (backoff 2, capped at 4 s): about 6 attempts in 12 s, not 24.
    assert.ok(train.attempt <= 9, `the retries backed off: ${train.attempt} attempts in ${outage} s`);
    assert.match(train.lastFailure ?? '', /ECONNREFUSED|connect|socket|network/i);
    assert.ok((await store.list(`runs/${workflowId}/train/`)).length > 0);
    measured.s3Outage = `${outage.toFixed(1)} s down mid-train, ${train.attempt} train attempts, run finished ${((Date.now() - up) / 1000).toFixed(1)} s after S3 came back`;
  });

  it('runs 20 pipelines submitted at once, each submitted twice: 20 runs, all complete, no object of one run under another run\'s prefix', async () => {
    const started = Date.now();
    const runKeys = Array.from({ length: 20 }, (_, index) => `load-${index + 1}`);
    const submitted = await Promise.all(
      runKeys.flatMap((runKey, index) => [0, 1].map(() => start(TINY_DATA, [`dataset=${dataset}`, `seed=${index}`], runKey))),
    );
    const byId = new Map(submitted.map((run) => [run.workflowId, run.runId]));
    assert.equal(byId.size, 20, 'the second submission of each is the same run');
    for (const run of submitted) assert.equal(run.runId, byId.get(run.workflowId), `${run.workflowId}: one run id`);

    const outputs = await Promise.all(submitted.slice(0, 40).filter((_, index) => index % 2 === 0).map(async (run) => stepOutputs.parse(await run.handle.result())));
    const wallSeconds = (Date.now() - started) / 1000;
    const ids = [...byId.keys()];
    for (const [index, id] of ids.entries()) {
      const keys = await store.list(`runs/${id}/`);
      assert.ok(keys.length > 0, `${id} wrote under its prefix`);
      // Output keys a run reports all live under its own prefix (or content-addressed, shared on purpose).
      const runKeysInOutputs = JSON.stringify(outputs[index]).match(/runs\/[^"]+/g) ?? [];
      for (const key of runKeysInOutputs) assert.ok(key.startsWith(`runs/${id}/`), `${id} reports ${key}`);
    }
    const all = await store.list('runs/');
    const owners = all.map((key) => ids.filter((id) => key.startsWith(`runs/${id}/`)));
    assert.ok(
      owners.every((owner, index) => owner.length === 1 || !(all[index] ?? '').includes('/load-')),
      'each object of these runs is under exactly one run prefix',
    );
    measured.load = `20 runs (download → subset) in ${wallSeconds.toFixed(0)} s: ${((20 / wallSeconds) * 60).toFixed(1)} runs/min on one worker process`;
  });

  it('keeps the S3 secret out of every worker log line, every exported workflow history and the CLI output; a 4-step history stays under 100 kB', async () => {
    assert.ok(tinyRunId, 'runs after the worker-kill test, whose run it inspects');
    const secret = servers.storage.secretAccessKey;
    for (const log of logs) assert.ok(!(await readFile(log, 'utf8')).includes(secret), `${log} holds the secret`);
    const temporal = await resolveTemporalBinary();
    const runs = await client.workflow.list({ query: `WorkflowType = 'runPipeline'` });
    let exported = 0;
    for await (const run of runs) {
      const { stdout } = await exec(temporal.path, ['workflow', 'show', '-w', run.workflowId, '--address', servers.temporalAddress, '--output', 'json'], { maxBuffer: 64 * 1024 * 1024 });
      assert.ok(!historyTextWithPayloads(stdout).includes(secret), `history of ${run.workflowId} holds the secret (raw or in a decoded payload)`);
      if (run.workflowId === tinyRunId) {
        // Four steps, four killed attempts: the history holds step inputs and outputs (object keys), never data.
        const compact = JSON.stringify(JSON.parse(stdout)).length;
        measured.historyBytes = `${compact} B of compact JSON for the 4-step run with 4 killed attempts`;
        assert.ok(compact < 100_000, `history of ${run.workflowId} is ${compact} bytes`);
      }
      exported += 1;
    }
    assert.ok(exported >= 22, `${exported} histories exported`);
    // The CLI runs with the secret in its environment, as on a machine that also runs a worker.
    const connectionFlags = ['--address', servers.temporalAddress, '--task-queue-prefix', prefix];
    for (const args of [['list', '--json'], ['show', tinyRunId, '--json'], ['show', tinyRunId]]) {
      const cli = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', ...args, ...connectionFlags], { env: { ...process.env, S3_SECRET_ACCESS_KEY: secret } });
      assert.ok(cli.stdout.length > 0);
      assert.ok(!`${cli.stdout}${cli.stderr}`.includes(secret), `mlp ${args.join(' ')} printed the secret`);
    }
  });

  /** Epochs checkpointed so far by the train step of a run. */
  async function checkpointEpochs(workflowId: string): Promise<number[]> {
    const keys = await store.list(`runs/${workflowId}/train/checkpoints/`);
    return keys.flatMap((key) => /\/epoch-(\d+)\/checkpoint\.json$/.exec(key)?.[1] ?? []).map(Number).sort((a, b) => a - b);
  }
});
