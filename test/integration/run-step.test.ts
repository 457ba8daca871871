import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { listingSha256 } from '../../activities/content-hash.ts';
import { createActivities } from '../../activities/index.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { createStepCacheActivities } from '../../activities/step-cache.ts';
import { createStepReuseActivities } from '../../activities/step-reuse.ts';
import { defaultRunSettings } from '../../activities/steps/run.ts';
import { sha256Bytes } from '../../activities/data/file-hash.ts';
import { decodeNpyUint8, encodeNpyUint8 } from '../../activities/data/npy.ts';
import { datasetKeys, manifestText } from '../../common/dataset-manifest.ts';
import { packageCodeFolder } from '../../client/pipelines/code-package.ts';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { PROJECT_ROOT } from '../../client/servers/binaries.ts';
import { isRunning } from '../../client/servers/launch.ts';
import { spawnWorkerProcess } from '../../client/workers/worker-process.ts';
import { codeArchiveKey } from '../../common/object-keys.ts';
import { PIPELINE_PROGRESS_QUERY, type PipelineProgress } from '../../common/pipeline-progress.ts';
import type { ResolvedStep } from '../../common/resolved-pipeline.ts';
import type { StepOutputs } from '../../common/step-activities.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';
import { startTestServers, type TestServers, workerStorageEnv } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';
import { findCause } from '../helpers/failure-cause.ts';


/**
 * The `run` step on the real servers: the user's code (Node scripts in test/fixtures/run-code,
 * packaged as the CLI packages it) with staged inputs, uploaded outputs and metrics, a cache hit
 * verified against the artifacts, a worker killed mid-training that resumes from its checkpoint,
 * a cancellation that leaves no process behind, no secret in the command's environment, and
 * broken contracts failing clearly with nothing uploaded. Steps run on the cpu queue in this
 * process, or on the gpu queue in a real worker process (the one the tests SIGKILL).
 */
describe('run step: the user’s own code as a durable, cached, resumable step', function () {
  this.timeout(240_000);
  let servers: TestServers;
  let store: ObjectStore;
  let workers: PipelineWorkers;
  let code: string;
  const gpuWorkers: ChildProcess[] = [];

  /** An activities-only worker process on the gpu queue, configured through its environment as users run it. */
  function startGpuWorker(env: Record<string, string> = {}): ChildProcess {
    const child = spawnWorkerProcess({
      logFile: join(servers.dir, `gpu-worker-${gpuWorkers.length}.log`),
      env: {
        TEMPORAL_ADDRESS: servers.temporalAddress,
        TEMPORAL_NAMESPACE: servers.namespace,
        MLP_TASK_QUEUE_PREFIX: workers.taskQueuePrefix,
        MLP_WORKER_QUEUES: 'gpu',
        MLP_WORKER_ROLE: 'activities',
        MLP_ENGINE: 'wasm',
        MLP_SCRATCH_DIR: join(servers.dir, `gpu-scratch-${gpuWorkers.length}`),
        MLP_RUN_DIR: join(servers.dir, `gpu-run-${gpuWorkers.length}`),
        MLP_RUN_CHECKPOINT_INTERVAL: '200ms',
        MLP_LOG_LEVEL: 'info',
        // The workflow runs on this test's in-process, unversioned workers; every worker of a task
        // queue prefix must agree on versioning (docs/production.md), so this one polls unversioned too.
        MLP_WORKER_VERSIONING: 'off',
        ...workerStorageEnv(servers.storage),
        ...env,
      },
    });
    gpuWorkers.push(child);
    return child;
  }

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'run-step' });
    store = new ObjectStore(servers.storage);
    const packaged = await packageCodeFolder('test/fixtures/run-code');
    await store.put(codeArchiveKey(packaged.sha256), packaged.archive);
    code = `sha256:${packaged.sha256}`;
    const scratchDir = join(servers.dir, 'scratch');
    // One Python environment per CI run, shared by every test that builds one (run-contract item 5).
    const run = { ...defaultRunSettings(scratchDir), envsDir: join(PROJECT_ROOT, '.tools', 'run-envs'), checkpointIntervalMs: 200 };
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      activities: createActivities({ store, scratchDir, run }),
      queues: ['cpu'],
      prefix: 'run',
    });
    startGpuWorker();
  });

  after(async () => {
    for (const child of gpuWorkers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await workers?.stop();
    await servers?.stop();
  });

  function runStep(id: string, options: { with: Record<string, unknown> } & Partial<ResolvedStep>): ResolvedStep {
    return testStep(id, 'run', { ...options, with: { code, ...options.with } });
  }

  async function start(steps: ResolvedStep[]): Promise<WorkflowHandle> {
    const workflowId = `run-${randomUUID().slice(0, 8)}`;
    return workers.client.workflow.start('runPipeline', pipelineStartOptions(testPipeline('run-steps', steps), { workflowId, taskQueuePrefix: workers.taskQueuePrefix }));
  }

  async function result(handle: WorkflowHandle): Promise<Record<string, StepOutputs>> {
    return (await handle.result()) as Record<string, StepOutputs>;
  }

  /** How many times each step's activity started, by activity id. */
  async function attempts(handle: WorkflowHandle): Promise<number> {
    const events = (await handle.fetchHistory()).events ?? [];
    return Math.max(0, ...events.flatMap((event) => event.activityTaskStartedEventAttributes?.attempt ?? []));
  }

  it('runs the command with staged inputs, uploads declared outputs content-addressed with metrics, and serves a second run from the verified cache', async () => {
    const steps = [
      runStep('fit', { cache: true, with: { command: ['node', 'outputs.mjs', 'good'], outputs: { model: 'directory', predictions: 'file' } } }),
      runStep('check', {
        needs: ['fit'],
        cache: true,
        with: {
          command: ['node', 'check-inputs.mjs'],
          inputs: { model: '${{ steps.fit.outputs.model }}', predictions: '${{ steps.fit.outputs.predictions }}' },
        },
      }),
    ];
    const firstRun = await start(steps);
    const first = await result(firstRun);
    const fit = first['fit'] ?? {};
    assert.deepEqual(fit['metrics'], { valAuc: 0.75 });
    const artifacts = fit['artifacts'] as Record<string, { type: string; key: string; sha256: string; bytes: number }>;
    assert.match(String(fit['predictions']), /^artifacts\/[0-9a-f]{64}\/predictions$/);
    assert.equal(artifacts['predictions']?.key, fit['predictions']);
    assert.equal(artifacts['predictions']?.sha256, String(fit['predictions']).split('/')[1]);
    assert.match(String(fit['model']), /^artifacts\/[0-9a-f]{64}\/$/);
    assert.deepEqual((await store.list(String(fit['model']))).sort(), ['alias.json', 'model.json', 'weights/w.bin'].map((name) => `${fit['model']}${name}`));
    assert.equal((await store.get(`${fit['model']}alias.json`)).toString(), '{"layers": 2}', 'a symlink inside the output is uploaded as the file it names');
    assert.equal(Object.keys(artifacts).sort().join(), 'model,predictions', 'the undeclared scratch.txt is not uploaded');
    const log = (await store.get(`runs/${firstRun.workflowId}/fit/logs/attempt-1.log`)).toString();
    assert.match(log, /\[mlp\] warning: \$MLP_OUTPUTS\/scratch\.txt is not a declared output; it was not uploaded/);
    assert.deepEqual(first['check']?.['metrics'], { layers: 2, weightBytes: 3, predictionLines: 2 }, 'the folder and the file were staged as inputs');

    const second = await start(steps);
    assert.deepEqual(await result(second), first);
    const progress = await second.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
    assert.deepEqual(progress.steps.map((step) => step.state), ['cached', 'cached'], 'both steps served from the cache after their artifacts were verified');
  });

  it('with python: `python` is the environment’s interpreter, and the Python version is part of the cache key', async () => {
    const script = 'import json, os, sys; json.dump({"inVenv": int(sys.prefix != sys.base_prefix)}, open(os.environ["MLP_METRICS"], "w"))';
    const outputs = await result(await start([runStep('py', { timeout: '3m', with: { command: ['python', '-c', script], python: { requirements: 'requirements.txt' } } })]));
    assert.deepEqual(outputs['py']?.['metrics'], { inVenv: 1 });

    const cache = createStepCacheActivities({ store, scratchDir: servers.dir });
    const withPython = await cache.computeCacheKeyParts({ uses: 'run', inputs: { code, command: ['python', 'fit.py'], python: {} } });
    assert.match(withPython.parts.engine ?? '', /^python \d+\.\d+\.\d+$/);
    const withoutPython = await cache.computeCacheKeyParts({ uses: 'run', inputs: { code, command: ['python', 'fit.py'] } });
    assert.equal(withoutPython.parts.engine, null);
  });

  it('the cache key hashes each named input by content (a folder by its listing), and a folder output that changed is not served from the cache', async () => {
    const cache = createStepCacheActivities({ store, scratchDir: servers.dir });
    const base = `test-inputs/${randomUUID().slice(0, 8)}/`;
    await store.put(`${base}data/a.txt`, 'a');
    await store.put(`${base}data/sub/b.txt`, 'b');
    await store.put(`${base}notes.txt`, 'notes');
    const keyOf = () => cache.computeCacheKeyParts({ uses: 'run', inputs: { code, command: ['node', 'x.mjs'], inputs: { data: `${base}data/`, notes: `${base}notes.txt` } } });
    const before = await keyOf();
    const listing = listingSha256([
      { path: 'a.txt', sha256: sha256Bytes('a') },
      { path: 'sub/b.txt', sha256: sha256Bytes('b') },
    ]);
    assert.deepEqual(before.parts.inputs, { inputs: { data: `sha256:${listing}`, notes: `sha256:${sha256Bytes('notes')}` } });
    await store.put(`${base}data/sub/b.txt`, 'B');
    const after = await keyOf();
    assert.notEqual(after.key, before.key, 'a changed file inside a folder input changes the key');
    assert.deepEqual((after.parts.inputs['inputs'] as Record<string, string>)['notes'], `sha256:${sha256Bytes('notes')}`);

    // A recorded folder output is served only while it holds the listing its sha256 names.
    const folder = `${base}data/`;
    const outputs = { model: folder, metrics: {}, artifacts: { model: { type: 'directory', key: folder, sha256: listingSha256([{ path: 'a.txt', sha256: sha256Bytes('a') }, { path: 'sub/b.txt', sha256: sha256Bytes('B') }]), bytes: 2 } } };
    await cache.recordCache({ key: before.key, uses: 'run', outputs, workflowId: 'wf', stepId: 'fit' });
    assert.equal((await cache.lookupVerifiedCache(before.key)).status, 'hit');
    await store.put(`${folder}extra.txt`, 'x');
    const stale = await cache.lookupVerifiedCache(before.key);
    assert.ok(stale.status === 'stale' && /^output artifacts: folder .* changed since it was cached/.test(stale.reason), JSON.stringify(stale));
    // `mlp rerun` checks reused outputs the same way.
    const reuse = createStepReuseActivities({ store, scratchDir: servers.dir });
    const refused = await reuse.verifyReusedOutputs({ stepId: 'fit', uses: 'run', from: 'wf/1', outputs });
    assert.ok(!refused.reusable && /^output artifacts: folder .* changed since it was cached/.test(refused.reason), JSON.stringify(refused));
    await store.remove(`${folder}extra.txt`);
    assert.equal((await reuse.verifyReusedOutputs({ stepId: 'fit', uses: 'run', from: 'wf/1', outputs })).reusable, true);
  });

  it('a split manifest of subset is staged as a folder numpy reads: images.npy, labels.npy, classes.txt, images.csv, manifest.json', async () => {
    const params = { width: 2, height: 2, channels: 1 as const, fit: 'fill' as const };
    const pixels = Uint8Array.from([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
    const shardKey = datasetKeys.shard('f'.repeat(64), params);
    await store.put(shardKey, encodeNpyUint8(pixels, [3, 2, 2]));
    const image = (row: number, cls: string) => ({ sha256: String(row).repeat(64), path: `train/${cls}/${row}.png`, class: cls, label: cls === 'NORMAL' ? 0 : 1, key: shardKey, row });
    // Manifest order differs from shard order: staging follows the manifest.
    const manifest = { version: 2, datasetHash: 'd'.repeat(64), split: 'train', classes: ['NORMAL', 'PNEUMONIA'], preprocessing: params, classCounts: { NORMAL: 1, PNEUMONIA: 2 }, images: [image(2, 'PNEUMONIA'), image(0, 'NORMAL'), image(1, 'PNEUMONIA')] };
    const text = manifestText(manifest);
    const key = datasetKeys.split('d'.repeat(64), sha256Bytes(text));
    await store.put(key, text);
    const outputs = await result(await start([runStep('stage', { with: { command: ['node', 'copy-input.mjs', 'train'], inputs: { train: key }, outputs: { staged: 'directory' } } })]));
    const folder = String(outputs['stage']?.['staged']);
    assert.deepEqual((await store.list(folder)).map((member) => member.slice(folder.length)).sort(), ['classes.txt', 'images.csv', 'images.npy', 'labels.npy', 'manifest.json']);
    const images = decodeNpyUint8(await store.get(`${folder}images.npy`));
    assert.deepEqual(images.shape, [3, 2, 2]);
    assert.deepEqual([...images.data], [20, 21, 22, 23, 0, 1, 2, 3, 10, 11, 12, 13]);
    const labels = decodeNpyUint8(await store.get(`${folder}labels.npy`));
    assert.deepEqual([labels.shape, [...labels.data]], [[3], [1, 0, 1]]);
    assert.equal((await store.get(`${folder}classes.txt`)).toString(), 'NORMAL\nPNEUMONIA\n');
    assert.equal((await store.get(`${folder}images.csv`)).toString().split('\n')[1], `0,1,PNEUMONIA,${'2'.repeat(64)},train/PNEUMONIA/2.png`);
    assert.equal((await store.get(`${folder}manifest.json`)).toString(), text);
  });

  /** The epoch in the step's last saved checkpoint (0 before the first save). */
  async function savedEpoch(runPrefix: string): Promise<number> {
    const manifest = (await store.getJson(`${runPrefix}checkpoints/manifest.json`).catch(() => undefined)) as { files: { path: string; sha256: string }[] } | undefined;
    const state = manifest?.files.find((file) => file.path === 'state.json');
    if (state === undefined) return 0;
    return (JSON.parse((await store.get(`${runPrefix}checkpoints/blobs/${state.sha256}`)).toString()) as { epoch: number }).epoch;
  }

  it('SIGKILL of the worker mid-training: its command is stopped, and the retry on another worker resumes from the last checkpoint with at most one epoch repeated', async () => {
    const pidsFile = join(servers.dir, `epochs-${randomUUID().slice(0, 8)}.pids`);
    const total = 8;
    const handle = await start([
      runStep('train', {
        queue: 'gpu',
        heartbeatTimeout: '3s',
        timeout: '2m',
        with: { command: ['node', 'epochs.mjs', total, 500], env: { PIDS_FILE: pidsFile }, outputs: { state: 'file' } },
      }),
    ]);
    const runPrefix = `runs/${handle.workflowId}/train/`;
    // The step's heartbeat carries the command's `::mlp progress` and its last log line (what `mlp watch` shows).
    const details = await waitUntil('progress in the heartbeat', async () => {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      const payload = pending.find((activity) => activity.activityId === 'train')?.heartbeatDetails?.payloads?.[0];
      const heartbeat = payload ? defaultPayloadConverter.fromPayload<Record<string, unknown>>(payload) : undefined;
      return typeof heartbeat?.['done'] === 'number' && heartbeat['done'] >= 1 ? heartbeat : undefined;
    }, { timeoutMs: 60_000 });
    assert.equal(details['phase'], 'running');
    assert.equal(details['total'], total);
    assert.match(String(details['message']), /^epoch \d$/);
    assert.equal(details['lastLine'], 'attempt 1 starts at epoch 0', 'progress lines are not log lines');
    const killedAt = await waitUntil('a checkpoint of epoch 3', async () => ((await savedEpoch(runPrefix)) >= 3 ? savedEpoch(runPrefix) : undefined), { timeoutMs: 90_000 });
    const victim = gpuWorkers.at(-1);
    assert.ok(victim);
    const exited = new Promise((resolve) => victim.once('exit', resolve));
    victim.kill('SIGKILL');
    await exited;
    const firstPid = Number(readFileSync(pidsFile, 'utf8').trim().split('\n')[0]?.split(' ')[1]);
    const killed = Date.now();
    await waitUntil('the killed worker’s command to stop', async () => (isRunning(firstPid) ? undefined : true), { timeoutMs: 20_000 });
    const stoppedMs = Date.now() - killed;

    startGpuWorker();
    const outputs = await result(handle);
    const metrics = outputs['train']?.['metrics'] as { epochs: number; ran: number };
    assert.equal(metrics.epochs, total);
    assert.ok(metrics.ran >= total && metrics.ran <= total + 1, `epochs run in total: ${metrics.ran} (at most one of ${total} repeated)`);
    assert.equal(await attempts(handle), 2);
    const secondLog = (await store.get(`${runPrefix}logs/attempt-2.log`)).toString();
    const resumedAt = Number(/attempt 2 starts at epoch (\d+)/.exec(secondLog)?.[1]);
    assert.ok(resumedAt >= killedAt, `attempt 2 resumed at epoch ${resumedAt}, the checkpoint before the kill held ${killedAt}`);
    process.stdout.write(`      (command stopped ${stoppedMs} ms after its worker's SIGKILL; resumed at epoch ${resumedAt} of ${total}; ${metrics.ran} epochs run in all)\n`);
  });

  it('SIGTERM to the worker: after its grace period the command gets SIGTERM, its checkpoint is saved as it exits, and the retry resumes from it', async () => {
    const current = gpuWorkers.at(-1);
    assert.ok(current);
    const replaced = new Promise((resolve) => current.once('exit', resolve));
    current.kill('SIGKILL');
    await replaced;
    const worker = startGpuWorker({ MLP_SHUTDOWN_GRACE_TIME: '1s' });
    const pidsFile = join(servers.dir, `shutdown-${randomUUID().slice(0, 8)}.pids`);
    const total = 6;
    const handle = await start([
      runStep('train', { queue: 'gpu', heartbeatTimeout: '5s', timeout: '2m', with: { command: ['node', 'epochs.mjs', total, 400], env: { PIDS_FILE: pidsFile }, outputs: { state: 'file' } } }),
    ]);
    const runPrefix = `runs/${handle.workflowId}/train/`;
    await waitUntil('a checkpoint of epoch 2', async () => ((await savedEpoch(runPrefix)) >= 2 ? true : undefined), { timeoutMs: 90_000 });
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    worker.kill('SIGTERM');
    assert.equal(await exited, 0, 'the worker stopped gracefully');
    const firstPid = Number(readFileSync(pidsFile, 'utf8').trim().split(' ')[1]);
    assert.equal(isRunning(firstPid), false, 'the command did not outlive its worker');
    const status = (await store.getJson(`${runPrefix}logs/attempt-1.json`)) as { exitCode: number | null; signal: string | null };
    assert.deepEqual([status.exitCode, status.signal], [null, 'SIGTERM']);
    const savedAtExit = await savedEpoch(runPrefix);

    startGpuWorker();
    const metrics = (await result(handle))['train']?.['metrics'] as { epochs: number; ran: number };
    assert.equal(metrics.epochs, total);
    assert.equal(metrics.ran, total, 'no epoch repeated: the checkpoint was saved when the command exited');
    const resumedAt = Number(/attempt 2 starts at epoch (\d+)/.exec((await store.get(`${runPrefix}logs/attempt-2.log`)).toString())?.[1]);
    assert.equal(resumedAt, savedAtExit);
  });

  it('cancelling the run stops the command’s whole process group: the child and its grandchild (which ignores SIGTERM) are gone', async () => {
    const pidsFile = join(servers.dir, `hang-${randomUUID().slice(0, 8)}.pids`);
    const handle = await start([runStep('hang', { with: { command: ['node', 'grandchild.mjs'], env: { PIDS_FILE: pidsFile }, gracePeriodSeconds: 1 } })]);
    const pids = await waitUntil('the command to record its pids', async () => {
      const [child, grandchild] = (readFileSyncOrEmpty(pidsFile).trim().split(' ').map(Number));
      return child && grandchild ? [child, grandchild] : undefined;
    });
    assert.deepEqual(pids.map(isRunning), [true, true]);
    await handle.cancel();
    await assert.rejects(handle.result());
    await waitUntil('the child and the grandchild to exit', async () => (pids.some(isRunning) ? undefined : true), { timeoutMs: 15_000 });
  });

  it('the step timeout stops the command’s whole process group as well', async () => {
    const pidsFile = join(servers.dir, `timeout-${randomUUID().slice(0, 8)}.pids`);
    const handle = await start([
      runStep('slow', { timeout: '4s', retry: { maximumAttempts: 1, initialInterval: '50ms', backoffCoefficient: 1 }, with: { command: ['node', 'grandchild.mjs'], env: { PIDS_FILE: pidsFile }, gracePeriodSeconds: 1 } }),
    ]);
    const pids = await waitUntil('the command to record its pids', async () => {
      const [child, grandchild] = readFileSyncOrEmpty(pidsFile).trim().split(' ').map(Number);
      return child && grandchild ? [child, grandchild] : undefined;
    });
    await assert.rejects(handle.result(), (error: unknown) => error instanceof WorkflowFailedError && /timed out|timeout/i.test(String(findCause(error, ActivityFailure)?.cause?.message ?? error)));
    const started = Date.now();
    await waitUntil('the child and the grandchild to exit', async () => (pids.some(isRunning) ? undefined : true), { timeoutMs: 20_000 });
    process.stdout.write(`      (processes gone ${Date.now() - started} ms after the run failed on its timeout)\n`);
  });

  it('the command’s environment is the minimal base, the MLP_* variables and env: — none of the worker’s S3 keys or Temporal settings', async () => {
    const outputs = await result(await start([runStep('env', { queue: 'gpu', with: { command: ['node', 'env.mjs'], outputs: { env: 'file' }, env: { OMP_NUM_THREADS: '2' } } })]));
    const dump = JSON.parse((await store.get(String(outputs['env']?.['env']))).toString()) as { env: Record<string, string>; cwd: string };
    assert.deepEqual(Object.keys(dump.env).sort(), [
      'HOME', 'LANG', 'MLP_ATTEMPT', 'MLP_CHECKPOINTS', 'MLP_INPUTS', 'MLP_METRICS', 'MLP_OUTPUTS', 'MLP_RUN_ID', 'MLP_STEP_ID', 'OMP_NUM_THREADS', 'PATH', 'TMPDIR',
    ]);
    for (const [name, value] of Object.entries(dump.env)) {
      for (const secret of [servers.storage.accessKeyId, servers.storage.secretAccessKey, servers.temporalAddress]) {
        assert.ok(!value.includes(secret), `${name} holds a worker setting`);
      }
    }
    assert.equal(dump.env['MLP_STEP_ID'], 'env');
    assert.equal(dump.env['MLP_ATTEMPT'], '1');
    assert.ok(dump.env['HOME']?.startsWith(join(servers.dir, 'gpu-run-')), `HOME in the attempt's folder: ${dump.env['HOME']}`);
    assert.match(dump.cwd, /\/code\/[0-9a-f]{64}$/, 'the command runs in the unpacked code folder');
  });

  describe('a broken contract fails the step clearly, with nothing uploaded', () => {
    async function expectStepFailure(step: ResolvedStep, type: string, message: RegExp, expectedAttempts = 1): Promise<void> {
      const before = await store.list('artifacts/');
      const handle = await start([step]);
      const error: unknown = await handle.result().then(
        () => assert.fail('the run succeeded'),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof WorkflowFailedError, String(error));
      const activity = findCause(error, ActivityFailure);
      const application = findCause(activity ?? error, ApplicationFailure);
      assert.ok(activity && application, `an activity failure under ${String(error)}`);
      assert.equal(activity.activityId, step.id);
      assert.equal(application.type, type, application.message);
      assert.match(application.message, message);
      assert.equal(await attempts(handle), expectedAttempts);
      assert.deepEqual(await store.list('artifacts/'), before, 'no output uploaded');
    }
    const outputs = { model: 'directory', predictions: 'file' };

    it('code that was not packaged, or whose archive is gone: RunCodeError saying so', async () => {
      await expectStepFailure(runStep('raw', { with: { code: './fit', command: ['node', 'x.mjs'] } }), 'RunCodeError', /^Run step "raw": code "\.\/fit" was not packaged \(expected sha256:<hex>\)/);
      const gone = `sha256:${'0'.repeat(64)}`;
      await expectStepFailure(runStep('gone', { with: { code: gone, command: ['node', 'x.mjs'] } }), 'RunCodeError', /^Code archive s3:\/\/[^/]+\/code\/0{64}\.tar\.gz not found/);
    });

    it('a command that does not exist: RunContractError naming it', async () => {
      await expectStepFailure(runStep('ghost', { with: { command: ['no-such-program-mlp'] } }), 'RunContractError', /^Command "no-such-program-mlp" not found \(looked up on PATH=/);
    });

    it('a declared output not written: RunContractError naming it', async () => {
      await expectStepFailure(runStep('lazy', { with: { command: ['node', 'outputs.mjs', 'missing'], outputs } }), 'RunContractError', /^Declared output "model" \(\$MLP_OUTPUTS\/model\) was not written/);
    });

    it('an output symlink escaping $MLP_OUTPUTS: RunContractError naming it and its target', async () => {
      await expectStepFailure(runStep('escape', { with: { command: ['node', 'outputs.mjs', 'escape'], outputs } }), 'RunContractError', /^Output "model" \(\$MLP_OUTPUTS\/model\) is a symlink to \/etc, outside \$MLP_OUTPUTS/);
    });

    it('metrics that are not a JSON object of numbers: RunContractError naming the metric', async () => {
      await expectStepFailure(runStep('metrics', { with: { command: ['node', 'outputs.mjs', 'metrics'], outputs } }), 'RunContractError', /^\$MLP_METRICS: metric "valAuc" is "high", not a number$/);
    });

    it('an exit code listed in nonRetryableExitCodes fails at once; another is retried, quoting the last log lines', async () => {
      await expectStepFailure(runStep('usage', { with: { command: ['node', '-e', 'process.exit(2)'], nonRetryableExitCodes: [2] } }), 'RunCommandError', /exited with code 2 \(attempt 1\)/);
      await expectStepFailure(
        runStep('flaky', { retry: { maximumAttempts: 2, initialInterval: '50ms', backoffCoefficient: 1 }, with: { command: ['node', '-e', 'console.log("boom"); process.exit(3)'] } }),
        'RunCommandError',
        /exited with code 3 \(attempt 2\); last 1 log lines:\nboom$/,
        2,
      );
    });
  });
});

function readFileSyncOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
