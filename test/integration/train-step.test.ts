import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { createDownloadActivity } from '../../activities/steps/download.ts';
import { createSubsetActivity } from '../../activities/steps/subset.ts';
import { selectEngine, type TrainingEngine } from '../../activities/engine/engine.ts';
import { createEvaluateActivity } from '../../activities/steps/evaluate.ts';
import { loadTrainedModel } from '../../activities/evaluation/trained-model.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { decodeFeatureRow } from '../../activities/features/feature-cache.ts';
import { createStepCacheActivities } from '../../activities/step-cache.ts';
import { createNoopActivity } from '../../activities/steps/noop.ts';
import { createTrainActivity } from '../../activities/steps/train.ts';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { spawnWorkerProcess } from '../../client/workers/worker-process.ts';
import type { ResolvedStep } from '../../common/resolved-pipeline.ts';
import type { StepOutputs } from '../../common/step-activities.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';
import { startTestServers, type TestServers, workerStorageEnv } from '../helpers/servers.ts';
import { CHEST_XRAY_224_DIR, MOBILENET_V1_DIR } from '../helpers/shared-assets.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const CLASSES = ['NORMAL', 'PNEUMONIA'];
const PER_CLASS = 16;

const OutputsSchema = z.record(z.string(), z.record(z.string(), z.unknown()));
const HistoryFileSchema = z.object({
  history: z.array(z.object({ epoch: z.number(), loss: z.number(), valLoss: z.number().optional() })),
  resumedFromEpoch: z.number(),
});

/** A dataset folder with the first real 224-px X-rays of each class in `train/`. */
async function smallDataset(root: string): Promise<string> {
  for (const name of CLASSES) {
    const from = join(CHEST_XRAY_224_DIR, 'train', name);
    await mkdir(join(root, 'train', name), { recursive: true });
    for (const file of (await readdir(from)).sort().slice(0, PER_CLASS)) await copyFile(join(from, file), join(root, 'train', name, file));
  }
  return root;
}

/** download → subset (16 train, 8 val, 8 test images) → the given train step. */
function pipeline(datasetDir: string, train: ResolvedStep) {
  return testPipeline('train-step', [
    testStep('download', 'download', { with: { url: `file://${datasetDir}`, format: 'directory' }, heartbeatTimeout: '30s' }),
    testStep('subset', 'subset', {
      needs: ['download'],
      heartbeatTimeout: '30s',
      with: {
        datasetManifest: '${{ steps.download.outputs.datasetManifest }}',
        seed: 3,
        fractions: { train: 0.5, val: 0.25, test: 0.25 },
        testFrom: 'train',
        imageSize: 224,
        channels: 3,
      },
    }),
    train,
  ]);
}

function trainWith(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    mode: 'partial',
    trainManifest: '${{ steps.subset.outputs.trainManifest }}',
    valManifest: '${{ steps.subset.outputs.valManifest }}',
    model: {
      backbone: 'mobilenet_v1',
      weights: MOBILENET_V1_DIR,
      inputSize: 224,
      trainable: false,
      head: [{ type: 'globalAveragePooling' }, { type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 2, activation: 'softmax' }],
    },
    optimizer: { name: 'adam', learningRate: 0.001 },
    batchSize: 8,
    epochs: 3,
    seed: 9,
    ...overrides,
  };
}

/** The test model with its last two backbone layers trainable: no feature cache, so every epoch takes seconds. */
function fineTunedModel(): Record<string, unknown> {
  return { ...z.record(z.string(), z.unknown()).parse(trainWith({}).model), trainable: { lastN: 2 } };
}

/** Attempt number of the train step's activity, as the workflow history recorded it. */
async function trainAttempt(handle: WorkflowHandle): Promise<number | undefined> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = events.find((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'trainModel');
  const started = events.find((event) => Number(event.activityTaskStartedEventAttributes?.scheduledEventId) === Number(scheduled?.eventId));
  return started?.activityTaskStartedEventAttributes?.attempt ?? undefined;
}

async function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => child.once('exit', resolve));
}

describe('the train step through runPipeline on the real Temporal dev server and S3 server', function () {
  this.timeout(600_000);
  let servers: TestServers;
  let workers: PipelineWorkers;
  let store: ObjectStore;
  let scratch: string;
  let datasetDir: string;
  let engine: TrainingEngine;
  const children: ChildProcess[] = [];

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'train-step' });
    store = new ObjectStore(servers.storage);
    scratch = await mkdtemp(join(tmpdir(), 'mlp-train-step-'));
    datasetDir = await smallDataset(join(scratch, 'dataset'));
    engine = await selectEngine('wasm', { strict: true });
    const deps = { store, scratchDir: join(scratch, 'worker'), engine: async () => engine };
    // This process serves the workflow and the cpu queue; train steps on the gpu queue go to child-process workers.
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'train',
      queues: ['cpu'],
      activities: { ...createNoopActivity(deps), ...createStepCacheActivities(deps), ...createDownloadActivity(deps), ...createSubsetActivity(deps), ...createTrainActivity(deps), ...createEvaluateActivity(deps) },
    });
  });

  after(async () => {
    for (const child of children) {
      child.kill('SIGKILL');
      await waitForExit(child);
    }
    await workers?.stop();
    await servers?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  /** A worker process (worker/main.ts) on the gpu queue, configured only through its environment. */
  function startWorkerProcess(name: string): { child: ChildProcess; logFile: string } {
    const logFile = join(scratch, `${name}.log`);
    const child = spawnWorkerProcess({
      logFile,
      env: {
        TEMPORAL_ADDRESS: servers.temporalAddress,
        TEMPORAL_NAMESPACE: servers.namespace,
        MLP_TASK_QUEUE_PREFIX: workers.taskQueuePrefix,
        MLP_WORKER_QUEUES: 'gpu',
        MLP_ENGINE: 'wasm',
        MLP_SCRATCH_DIR: join(scratch, name),
        MLP_LOG_LEVEL: 'info',
        // The workflow runs on this test's in-process, unversioned workers; every worker of a task
        // queue prefix must agree on versioning (docs/production.md), so this one polls unversioned too.
        MLP_WORKER_VERSIONING: 'off',
        ...workerStorageEnv(servers.storage),
      },
    });
    children.push(child);
    return { child, logFile };
  }

  /** Epochs checkpointed so far by the train step of a run. */
  async function checkpointEpochs(workflowId: string): Promise<number[]> {
    const keys = await store.list(`runs/${workflowId}/train/checkpoints/`);
    return keys.flatMap((key) => /\/epoch-(\d+)\/checkpoint\.json$/.exec(key)?.[1] ?? []).map(Number).sort((a, b) => a - b);
  }

  /** Waits for the train step of a run to store an epoch's checkpoint; fails at a deadline (or as soon as the run ends) instead of hanging. */
  async function checkpointWritten(handle: WorkflowHandle, epoch: number): Promise<void> {
    let ended: string | undefined;
    void handle.result().then(
      () => (ended = 'succeeded'),
      (error: unknown) => (ended = `failed: ${error instanceof WorkflowFailedError ? String(error.cause?.message) : String(error)}`),
    );
    await waitUntil(`run ${handle.workflowId} to checkpoint epoch ${epoch}`, async () => {
      if ((await checkpointEpochs(handle.workflowId)).includes(epoch)) return true;
      if (ended !== undefined) throw new Error(`Run ${handle.workflowId} ended (${ended}) before it checkpointed epoch ${epoch}`);
      return undefined;
    }, { timeoutMs: 300_000 });
  }

  async function run(workflowId: string, train: ResolvedStep): Promise<{ handle: WorkflowHandle; result: Promise<Record<string, StepOutputs>> }> {
    const handle = await workers.client.workflow.start(
      'runPipeline',
      pipelineStartOptions(pipeline(datasetDir, train), { workflowId, taskQueuePrefix: workers.taskQueuePrefix }),
    );
    const result = handle.result().then((outputs: unknown) => OutputsSchema.parse(outputs));
    // A test that fails before it awaits the result must fail with its own error, not crash mocha with an unhandled rejection.
    result.catch(() => undefined);
    return { handle, result };
  }

  it('trains a frozen MobileNet v1 head for 3 epochs and stores a model that loads, a history and a checkpoint per epoch, which evaluate reads', async () => {
    const workflowId = `train-frozen-${randomUUID().slice(0, 8)}`;
    const train = testStep('train', 'train', { needs: ['subset'], timeout: '10m', heartbeatTimeout: '30s', with: trainWith({}) });
    const evaluate = testStep('evaluate', 'evaluate', {
      needs: ['train', 'subset'],
      timeout: '5m',
      heartbeatTimeout: '30s',
      with: {
        model: '${{ steps.train.outputs.model }}',
        testManifest: '${{ steps.subset.outputs.testManifest }}',
        valManifest: '${{ steps.subset.outputs.valManifest }}',
        threshold: 'auto',
        histories: ['${{ steps.train.outputs.history }}'],
        sampleImages: 4,
      },
    });
    const spec = pipeline(datasetDir, train);
    const handle = await workers.client.workflow.start(
      'runPipeline',
      pipelineStartOptions({ ...spec, steps: [...spec.steps, evaluate] }, { workflowId, taskQueuePrefix: workers.taskQueuePrefix }),
    );
    const outputs = OutputsSchema.parse(await handle.result());
    assert.equal(outputs.evaluate?.testSize, 8, 'evaluate scored the test split with the trained model');
    const evaluation = z.object({ featureEngine: z.string() }).loose().parse(await store.getJson(String(outputs.evaluate?.metricsKey)));
    assert.equal(evaluation.featureEngine, 'onnxruntime', "evaluate ran the saved model's backbone through ONNX Runtime");
    const out = outputs.train ?? {};

    assert.equal(out.model, `runs/${workflowId}/train/model/model.json`);
    assert.equal(out.history, `runs/${workflowId}/train/history.json`);
    assert.deepEqual(out.classes, CLASSES);
    assert.equal(out.engine, 'wasm');
    assert.equal(out.backend, 'wasm');
    assert.equal(out.epochs, 3);
    assert.equal(out.resumedFromEpoch, 0);
    assert.equal(out.seed, 9);
    assert.equal(out.trainImages, 16);
    assert.equal(out.valImages, 8);
    assert.match(String(out.weightsSha256), /^[0-9a-f]{64}$/);
    assert.ok(Number(out.imagesPerSecond) > 0 && Number(out.featureSeconds) > 0);
    assert.equal(out.featureEngine, 'onnxruntime', 'featureEngine auto runs the frozen MobileNet through ONNX Runtime');
    assert.match(String(out.featureDevice), /^onnxruntime cpu, \d+ threads?/);
    assert.deepEqual(out.featureEngineSkipped, []);
    const metrics = z.record(z.string(), z.number()).parse(out.finalMetrics);
    assert.ok(Number.isFinite(metrics.loss) && Number.isFinite(metrics.valLoss), `final metrics ${JSON.stringify(metrics)}`);

    const history = HistoryFileSchema.parse(await store.getJson(String(out.history)));
    assert.deepEqual(history.history.map((epoch) => epoch.epoch), [1, 2, 3]);
    assert.match(String(out.checkpoints), new RegExp(`^runs/${workflowId}/train/checkpoints/[0-9a-f]{16}$`));
    const checkpoints = (await store.list(`runs/${workflowId}/train/checkpoints/`)).filter((key) => key.endsWith('checkpoint.json'));
    assert.deepEqual(checkpoints.sort(), [1, 2, 3].map((epoch) => `${String(out.checkpoints)}/epoch-${epoch}/checkpoint.json`));

    // The evaluate step's loader finds the classes in model.json; the model maps images to class probabilities.
    const trained = await loadTrainedModel(store, String(out.model), undefined);
    try {
      assert.deepEqual(trained.classes, CLASSES);
      assert.deepEqual(trained.inputShape, [224, 224, 3]);
      const modelJson = z.object({ userDefinedMetadata: z.record(z.string(), z.unknown()) }).parse(await store.getJson(String(out.model)));
      assert.equal(modelJson.userDefinedMetadata['preprocessing'], 'symmetric');
      assert.equal(trained.preprocessing, 'symmetric', 'evaluate reads back the mode training recorded');
      const probabilities = tf.tidy(() => {
        const output = trained.model.predict(tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 1));
        if (!(output instanceof tf.Tensor)) throw new Error('expected one output tensor');
        return output;
      });
      assert.deepEqual(probabilities.shape, [2, 2]);
      const values = await probabilities.data();
      probabilities.dispose();
      for (const row of [0, 1]) assert.ok(Math.abs((values[row * 2] ?? 0) + (values[row * 2 + 1] ?? 0) - 1) < 1e-5);
    } finally {
      trained.model.dispose();
    }
  });

  it('resumes from the epoch-2 checkpoint after its worker process is SIGKILLed, to the same weights as an uninterrupted run', async () => {
    // Fine-tuning keeps every epoch seconds long, so the kill lands inside epoch 3.
    const train = testStep('train', 'train', {
      needs: ['subset'],
      queue: 'gpu',
      timeout: '10m',
      // How long the server takes to notice the killed worker. Not shorter: a fresh worker's
      // first fine-tuning batch blocks its event loop for seconds on a loaded machine, and a
      // heartbeat timeout there would fail the second attempt, not the behaviour under test.
      heartbeatTimeout: '20s',
      retry: { maximumAttempts: 3, initialInterval: '1s', backoffCoefficient: 1 },
      with: trainWith({ model: fineTunedModel() }),
    });

    const first = startWorkerProcess('worker-1');
    // The reference must run uninterrupted: a generous heartbeat timeout keeps a loaded CI
    // machine from timing it out (heartbeats are not part of the step's inputs or results).
    const reference = await (await run(`train-reference-${randomUUID().slice(0, 8)}`, { ...train, heartbeatTimeout: '60s' })).result;
    const expected = reference.train ?? {};
    assert.equal(expected.resumedFromEpoch, 0);

    const workflowId = `train-crash-${randomUUID().slice(0, 8)}`;
    const crashed = await run(workflowId, train);
    await checkpointWritten(crashed.handle, 2);
    first.child.kill('SIGKILL');
    await waitForExit(first.child);
    assert.deepEqual(await checkpointEpochs(workflowId), [1, 2], 'killed before epoch 3 was checkpointed');

    const second = startWorkerProcess('worker-2');
    const outputs = (await crashed.result).train ?? {};

    assert.equal(await trainAttempt(crashed.handle), 2, 'the second attempt finished the step');
    assert.equal(outputs.resumedFromEpoch, 2);
    assert.equal(outputs.epochs, 3);
    assert.equal(outputs.weightsSha256, expected.weightsSha256, 'bit-identical to the uninterrupted run');
    const history = HistoryFileSchema.parse(await store.getJson(String(outputs.history)));
    const referenceHistory = HistoryFileSchema.parse(await store.getJson(String(expected.history)));
    assert.deepEqual(history.history.map((epoch) => epoch.epoch), [1, 2, 3], 'each epoch exactly once');
    assert.deepEqual(
      history.history.map(({ loss, valLoss }) => ({ loss, valLoss })),
      referenceHistory.history.map(({ loss, valLoss }) => ({ loss, valLoss })),
    );
    const log = await readFile(second.logFile, 'utf8');
    assert.match(log, /Resuming training from checkpoint/);
  });
  it('applies the notebook\'s augmentation on real X-rays: other weights than without it, the same weights twice with one seed', async () => {
    const augmentation = { rotation: 40, widthShift: 0.2, heightShift: 0.2, shear: 0.2, zoom: 0.2, horizontalFlip: true, fillMode: 'nearest', views: 2 };
    const step = (extra: Record<string, unknown>) =>
      testStep('train', 'train', { needs: ['subset'], timeout: '10m', heartbeatTimeout: '30s', with: trainWith({ epochs: 2, ...extra }) });
    const trained = async (name: string, extra: Record<string, unknown>) => (await (await run(`train-${name}-${randomUUID().slice(0, 8)}`, step(extra))).result).train ?? {};
    const plain = await trained('plain', {});
    const augmented = await trained('augmented', { augmentation });
    const again = await trained('augmented-again', { augmentation });
    assert.notEqual(augmented.weightsSha256, plain.weightsSha256);
    assert.equal(again.weightsSha256, augmented.weightsSha256);
    assert.ok(Number(again.featureSeconds) > 0, 'the second run trained again rather than reusing a result');
  });

  it('stores frozen-backbone features in object storage on the first run and reuses every one on a re-run, to the same weights', async () => {
    // Earlier tests in this file trained on the same images: start from an empty feature cache.
    for (const key of await store.list('features/')) await store.remove(key);
    const step = testStep('train', 'train', { needs: ['subset'], timeout: '10m', heartbeatTimeout: '30s', with: trainWith({ epochs: 2 }) });
    const first = (await (await run(`train-features-${randomUUID().slice(0, 8)}`, step)).result).train ?? {};
    const stored = await store.list('features/');
    const second = (await (await run(`train-features-again-${randomUUID().slice(0, 8)}`, step)).result).train ?? {};

    assert.deepEqual([first.featuresComputed, first.featuresReused], [24, 0], '16 train + 8 validation images computed');
    assert.equal(stored.length, 24, 'one object per image');
    assert.ok(stored.every((key) => /^features\/[0-9a-f]{64}\/symmetric\/plain\/w224-h224-fill-gray-v2\/[0-9a-f]{64}\.bin$/.test(key)), stored[0]);
    assert.deepEqual([second.featuresComputed, second.featuresReused], [0, 24]);
    assert.equal(second.weightsSha256, first.weightsSha256);
    assert.deepEqual((await store.list('features/')).length, 24, 'the re-run wrote nothing new');
  });

  it('computes frozen MobileNet features through ONNX Runtime that match the tfjs engine\'s within 1e-4, cached under their own backbone hash', async () => {
    for (const key of await store.list('features/')) await store.remove(key);
    const rows = async () => {
      const keys = await store.list('features/');
      return new Map(await Promise.all(keys.map(async (key) => [key, decodeFeatureRow(await store.get(key))] as const)));
    };
    const step = (featureEngine: string) => testStep('train', 'train', { needs: ['subset'], timeout: '10m', heartbeatTimeout: '30s', with: trainWith({ epochs: 1, featureEngine }) });
    const tfjs = (await (await run(`train-tfjs-features-${randomUUID().slice(0, 8)}`, step('tfjs'))).result).train ?? {};
    const tfjsRows = await rows();
    const ort = (await (await run(`train-ort-features-${randomUUID().slice(0, 8)}`, step('onnxruntime'))).result).train ?? {};
    const ortRows = new Map([...(await rows())].filter(([key]) => !tfjsRows.has(key)));

    assert.deepEqual([tfjs.featureEngine, ort.featureEngine], ['tfjs', 'onnxruntime']);
    assert.deepEqual([ort.featuresComputed, ort.featuresReused], [24, 0], 'ONNX Runtime does not read features tfjs cached');
    assert.equal(tfjsRows.size, 24);
    assert.equal(ortRows.size, 24);
    const hashOf = (key: string) => key.split('/')[1] ?? '';
    const imageOf = (key: string) => key.split('/').slice(2).join('/');
    const tfjsByImage = new Map([...tfjsRows].map(([key, row]) => [imageOf(key), row]));
    let maxDifference = 0;
    for (const [key, row] of ortRows) {
      const reference = tfjsByImage.get(imageOf(key));
      assert.ok(row && reference, `both engines cached ${imageOf(key)}`);
      assert.deepEqual(row.shape, [768]);
      assert.deepEqual(row.shape, reference.shape);
      row.values.forEach((value, i) => (maxDifference = Math.max(maxDifference, Math.abs(value - (reference.values[i] ?? NaN)))));
    }
    assert.ok(maxDifference < 1e-4, `max difference between ONNX Runtime and tfjs features ${maxDifference}`);
    assert.notEqual(hashOf([...ortRows.keys()][0] ?? ''), hashOf([...tfjsRows.keys()][0] ?? ''));
  });

  it('warm-starts mode: full from the partial step\'s model: with a vanishing learning rate it predicts what the partial model predicts', async () => {
    const workflowId = `train-warm-${randomUUID().slice(0, 8)}`;
    const partial = testStep('train', 'train', { needs: ['subset'], timeout: '10m', heartbeatTimeout: '30s', with: trainWith({ epochs: 2 }) });
    const full = testStep('train-full', 'train', {
      needs: ['train', 'subset'],
      timeout: '10m',
      heartbeatTimeout: '30s',
      with: trainWith({ mode: 'full', warmStartFrom: '${{ steps.train.outputs.model }}', epochs: 1, optimizer: { name: 'sgd', learningRate: 1e-12 } }),
    });
    const spec = pipeline(datasetDir, partial);
    const handle = await workers.client.workflow.start(
      'runPipeline',
      pipelineStartOptions({ ...spec, steps: [...spec.steps, full] }, { workflowId, taskQueuePrefix: workers.taskQueuePrefix }),
    );
    const outputs = OutputsSchema.parse(await handle.result());
    const partialModel = String(outputs.train?.model);
    const fullModel = String(outputs['train-full']?.model);
    assert.equal(fullModel, `runs/${workflowId}/train-full/model/model.json`);
    assert.notEqual(outputs['train-full']?.weightsSha256, outputs.train?.weightsSha256, 'the full step trained its own copy');

    const x = tf.randomUniform([4, 224, 224, 3], -1, 1, 'float32', 2);
    const predictions = await Promise.all(
      [partialModel, fullModel].map(async (key) => {
        const trained = await loadTrainedModel(store, key, undefined);
        try {
          const output = trained.model.predict(x);
          if (!(output instanceof tf.Tensor)) throw new Error('expected one output tensor');
          const values = Array.from(await output.data());
          output.dispose();
          return values;
        } finally {
          trained.model.dispose();
        }
      }),
    );
    x.dispose();
    const [before = [], after = []] = predictions;
    assert.equal(after.length, 8);
    after.forEach((value, i) => assert.ok(Math.abs(value - (before[i] ?? Number.NaN)) < 1e-4, `probability ${i}: ${value} vs ${before[i]}`));
  });

  it('fails without retry when the subset\'s image size is not the model\'s input size', async () => {
    const workflowId = `train-size-${randomUUID().slice(0, 8)}`;
    const train = testStep('train', 'train', { needs: ['subset'], heartbeatTimeout: '30s', with: trainWith({ model: { ...fineTunedModel(), inputSize: 128 } }) });
    const { handle, result } = await run(workflowId, train);
    const failure = await result.then(
      () => assert.fail('the run should fail'),
      (error: unknown) => error,
    );
    assert.ok(failure instanceof WorkflowFailedError);
    assert.ok(failure.cause instanceof ApplicationFailure);
    assert.match(failure.cause.message, /^Step "train" failed: PipelineSpecError: Load training data failed: .* holds 224x224 images but model.inputSize is 128/);
    assert.equal(await trainAttempt(handle), 1, 'not retried');
  });

  it('re-running a workflow id resumes checkpoints of the same train inputs but starts fresh when the inputs changed', async () => {
    const workflowId = `train-rerun-${randomUUID().slice(0, 8)}`;
    const step = (epochs: number) => testStep('train', 'train', { needs: ['subset'], timeout: '10m', heartbeatTimeout: '30s', with: trainWith({ epochs }) });
    const first = (await (await run(workflowId, step(2))).result).train ?? {};
    const changed = (await (await run(workflowId, step(3))).result).train ?? {};
    const again = (await (await run(workflowId, step(3))).result).train ?? {};
    assert.equal(first.resumedFromEpoch, 0);
    assert.equal(changed.resumedFromEpoch, 0, 'epochs changed: the 2-epoch checkpoints are not reused');
    assert.notEqual(changed.checkpoints, first.checkpoints);
    assert.equal(again.resumedFromEpoch, 3, 'same inputs: everything restored from the last checkpoint');
    assert.equal(again.weightsSha256, changed.weightsSha256);
  });

  it('stops training when the run is cancelled, keeping the checkpoints written so far and storing no model', async () => {
    const workflowId = `train-cancel-${randomUUID().slice(0, 8)}`;
    // Cancellation reaches an activity with a heartbeat response; the SDK sends heartbeats every 0.8 × heartbeatTimeout.
    // 6 s, not less: one fine-tuning batch on a loaded 2-core machine can take over 3 s, and a missed
    // heartbeat would fail the step before the cancel is sent.
    const train = testStep('train', 'train', { needs: ['subset'], timeout: '10m', heartbeatTimeout: '6s', with: trainWith({ model: fineTunedModel(), epochs: 20 }) });
    const { handle, result } = await run(workflowId, train);
    const prefix = `runs/${workflowId}/train/`;
    await checkpointWritten(handle, 1);
    const cancelledAt = Date.now();
    await handle.cancel();
    await assert.rejects(result);
    const seconds = (Date.now() - cancelledAt) / 1000;
    const description = await handle.describe();
    assert.equal(description.status.name, 'CANCELLED');
    assert.ok(seconds < 15, `training stopped ${seconds} s after the cancel`);
    const keys = await store.list(prefix);
    const epochs = keys.filter((key) => key.endsWith('checkpoint.json')).length;
    assert.ok(epochs >= 1 && epochs < 20, `${epochs} checkpoints kept`);
    assert.equal(keys.some((key) => key.startsWith(`${prefix}model/`)), false, 'no model stored');
  });
});
