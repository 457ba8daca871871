import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { createActivities } from '../../activities/index.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { defaultRunSettings } from '../../activities/steps/run.ts';
import { packageCodeFolder } from '../../client/code-package.ts';
import { pipelineStartOptions } from '../../client/pipeline-start.ts';
import { isRunning } from '../../client/servers/launch.ts';
import { spawnWorkerProcess } from '../../client/worker-process.ts';
import { codeArchiveKey } from '../../common/object-keys.ts';
import { PIPELINE_PROGRESS_QUERY, type PipelineProgress } from '../../common/pipeline-progress.ts';
import type { ResolvedStep } from '../../common/resolved-pipeline.ts';
import type { StepOutputs } from '../../common/step-activities.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';

/** Temporal's PendingActivityState.STARTED: a worker holds the attempt. */
const STARTED = 2;

function findCause<T extends Error>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (current instanceof type) return current;
  }
  return undefined;
}

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
  function startGpuWorker(): ChildProcess {
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
        S3_ENDPOINT: servers.storage.endpoint,
        S3_REGION: servers.storage.region,
        S3_BUCKET: servers.storage.bucket,
        S3_ACCESS_KEY_ID: servers.storage.accessKeyId,
        S3_SECRET_ACCESS_KEY: servers.storage.secretAccessKey,
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
    const run = { ...defaultRunSettings(scratchDir), checkpointIntervalMs: 200 };
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
    const first = await result(await start(steps));
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
    assert.deepEqual(first['check']?.['metrics'], { layers: 2, weightBytes: 3, predictionLines: 2 }, 'the folder and the file were staged as inputs');

    const second = await start(steps);
    assert.deepEqual(await result(second), first);
    const progress = await second.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
    assert.deepEqual(progress.steps.map((step) => step.state), ['cached', 'cached'], 'both steps served from the cache after their artifacts were verified');
  });
});
