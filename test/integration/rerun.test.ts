import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { ApplicationFailure, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { ObjectStore } from '../../activities/object-store.ts';
import { createStepCacheActivities } from '../../activities/step-cache.ts';
import { createStepReuseActivities } from '../../activities/step-reuse.ts';
import { loadPipelineFile } from '../../client/pipelines/pipeline-file.ts';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { progressFromHistory } from '../../client/runs/run-history.ts';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import type { StepContext, StepOutputs } from '../../common/step-activities.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { createRecordingSteps, testPipeline, testStep } from '../helpers/recording-steps.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

const exec = promisify(execFile);

const startedSchema = z.object({
  workflowId: z.string(),
  runId: z.string(),
  rerunOf: z.object({ workflowId: z.string(), runId: z.string() }),
  from: z.array(z.string()),
  execute: z.array(z.string()),
  reuse: z.array(z.string()),
  status: z.string(),
  outputs: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
});
const showSchema = z.object({
  state: z.string(),
  rerunOf: z.object({ run: z.string(), from: z.string() }).optional(),
  steps: z.array(z.object({ id: z.string(), state: z.string(), reusedFrom: z.string().optional(), reuseMiss: z.string().optional() })),
});

describe('mlp rerun on the real Temporal dev server and S3 server', function () {
  this.timeout(180_000);
  let servers: TestServers;
  let workers: PipelineWorkers;
  let store: ObjectStore;
  const recording = createRecordingSteps();
  /** Workflow ids whose train step fails (a broken node, say): the fault is outside the spec. */
  const brokenTrain = new Set<string>();

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'rerun' });
    store = new ObjectStore(servers.storage);
    const deps = { store, scratchDir: servers.dir };
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'rerun',
      activities: {
        ...recording.activities,
        async trainModel(input: Record<string, unknown>, context: StepContext) {
          if (brokenTrain.has(context.workflowId)) throw ApplicationFailure.nonRetryable('the training node fell over', 'TestStepError');
          return recording.activities.trainModel(input, context);
        },
        ...createStepCacheActivities(deps),
        ...createStepReuseActivities(deps),
      },
    });
  });

  after(async () => {
    await workers?.stop();
    await servers?.stop();
  });

  /** The CLI as a user runs it; its exit code and output instead of a throw. */
  async function mlp(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const connection = ['--address', servers.temporalAddress, '--namespace', servers.namespace, '--task-queue-prefix', workers.taskQueuePrefix];
    try {
      const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', ...args, ...connection]);
      return { code: 0, stdout, stderr };
    } catch (error) {
      return z.object({ code: z.number(), stdout: z.string(), stderr: z.string() }).parse(error);
    }
  }

  /**
   * download → subset → train → evaluate → publish; each step names an artifact under the run's
   * own prefix (written below, as a real step would) and takes its upstream step's.
   */
  function pipeline(name: string, workflowId: string, trainModel?: string): ResolvedPipeline {
    const artifact = (step: string): { outputs: Record<string, string> } => ({
      outputs: { artifact: `runs/${workflowId}/${step}/out.bin`, ...(step === 'train' && trainModel !== undefined ? { model: trainModel } : {}) },
    });
    const upstream = (step: string): string => `\${{ steps.${step}.outputs.artifact }}`;
    return testPipeline(name, [
      testStep('download', 'download', { with: artifact('download') }),
      testStep('subset', 'subset', { needs: ['download'], with: { ...artifact('subset'), from: upstream('download') } }),
      testStep('train', 'train', { needs: ['subset'], with: { ...artifact('train'), from: upstream('subset') } }),
      testStep('evaluate', 'evaluate', { needs: ['train'], with: { ...artifact('evaluate'), from: upstream('train') } }),
      testStep('publish', 'publish', { needs: ['evaluate'], with: { ...artifact('publish'), from: upstream('evaluate') } }),
    ]);
  }

  /** The first run; `trainModel` gives train a `model` output (an artifact train declares) that is never written. */
  async function firstRun(name: string, options: { trainFails?: boolean; trainModel?: (workflowId: string) => string } = {}): Promise<{ handle: WorkflowHandle; spec: ResolvedPipeline }> {
    const workflowId = `${name}-${randomUUID().slice(0, 8)}`;
    const spec = pipeline(name, workflowId, options.trainModel?.(workflowId));
    for (const step of spec.steps) await store.put(`runs/${workflowId}/${step.id}/out.bin`, Buffer.from(step.id));
    if (options.trainFails === true) brokenTrain.add(workflowId);
    const handle = await workers.client.workflow.start('runPipeline', pipelineStartOptions(spec, { workflowId, taskQueuePrefix: workers.taskQueuePrefix }));
    await handle.result().catch(() => undefined);
    return { handle, spec };
  }

  /** The activity types the run scheduled, from its event history: what really ran. */
  async function scheduledActivities(workflowId: string): Promise<string[]> {
    const history = await workers.client.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? []).flatMap((event) => {
      const scheduled = event.activityTaskScheduledEventAttributes;
      return scheduled ? [`${scheduled.activityId ?? ''}:${scheduled.activityType?.name ?? ''}`] : [];
    });
  }

  async function rerun(...args: string[]): Promise<z.infer<typeof startedSchema>> {
    const result = await mlp('rerun', ...args, '--wait', '--json');
    assert.equal(result.code, 0, `mlp rerun ${args.join(' ')}: ${result.stderr}`);
    return startedSchema.parse(JSON.parse(result.stdout));
  }

  it('--from train after a finished run executes only train, evaluate and publish, on the reused outputs', async () => {
    const { handle } = await firstRun('from-train');
    const original = await handle.describe();
    const result = await rerun(handle.workflowId, '--from', 'train');

    assert.equal(result.status, 'completed');
    assert.deepEqual(result.execute, ['train', 'evaluate', 'publish']);
    assert.deepEqual(result.reuse, ['download', 'subset']);
    assert.deepEqual(await scheduledActivities(result.workflowId), [
      'download/reuse-check:verifyReusedOutputs',
      'subset/reuse-check:verifyReusedOutputs',
      'train:trainModel',
      'evaluate:evaluateModel',
      'publish:publishModel',
    ]);
    // train ran on the artifact the old run's subset wrote; its own outputs are new.
    const before: Record<string, StepOutputs> = await handle.result();
    assert.deepEqual(result.outputs?.['subset'], before['subset']);
    assert.deepEqual(z.object({ from: z.string() }).parse(result.outputs?.['train']?.['input']).from, `runs/${handle.workflowId}/subset/out.bin`);

    const memo = (await workers.client.workflow.getHandle(result.workflowId).describe()).memo;
    assert.equal(memo?.['rerunOf'], `${handle.workflowId}/${original.runId}`);
    assert.equal(memo?.['from'], 'train');

    const shown = await mlp('show', result.workflowId, '--json');
    assert.equal(shown.code, 0, shown.stderr);
    const view = showSchema.parse(JSON.parse(shown.stdout));
    assert.deepEqual(view.rerunOf, { run: `${handle.workflowId}/${original.runId}`, from: 'train' });
    assert.deepEqual(
      view.steps.map((step) => [step.id, step.state, step.reusedFrom]),
      [
        ['download', 'reused', `${handle.workflowId}/${original.runId}`],
        ['subset', 'reused', `${handle.workflowId}/${original.runId}`],
        ['train', 'succeeded', undefined],
        ['evaluate', 'succeeded', undefined],
        ['publish', 'succeeded', undefined],
      ],
    );
    // Without a worker, `show` rebuilds the same from the history.
    const fromHistory = progressFromHistory(await workers.client.workflow.getHandle(result.workflowId).fetchHistory(), result.workflowId);
    assert.deepEqual(
      fromHistory.steps.map((step) => [step.id, step.state, step.reusedFrom]),
      view.steps.map((step) => [step.id, step.state, step.reusedFrom]),
    );
    const text = await mlp('show', result.workflowId);
    assert.match(text.stdout, new RegExp(`subset +reused .*\\(reused from ${handle.workflowId}/${original.runId}\\)`));
    assert.match(text.stdout, new RegExp(`rerun of ${handle.workflowId}/${original.runId} from train`));
  });

  it('--failed after a forced failure succeeds without redoing the steps before the failed one', async () => {
    const { handle } = await firstRun('failed-train', { trainFails: true });
    assert.equal((await handle.describe()).status.name, 'FAILED');
    const result = await rerun(handle.workflowId, '--failed');

    assert.equal(result.status, 'completed');
    assert.deepEqual(result.from, ['train']);
    const ran = recording.records.filter((record) => record.workflowId === result.workflowId).map((record) => record.stepId);
    assert.deepEqual(ran, ['train', 'evaluate', 'publish']);
    assert.ok(!(await scheduledActivities(result.workflowId)).some((id) => id.startsWith('download:') || id.startsWith('subset:')));
  });

  it('runs a step again, recording why, when an artifact of its recorded outputs was deleted', async () => {
    const { handle } = await firstRun('lost-artifact');
    await store.remove(`runs/${handle.workflowId}/subset/out.bin`);
    const result = await rerun(handle.workflowId, '--from', 'evaluate');

    assert.equal(result.status, 'completed');
    const ran = recording.records.filter((record) => record.workflowId === result.workflowId).map((record) => record.stepId);
    assert.deepEqual(ran, ['subset', 'train', 'evaluate', 'publish'], 'subset ran again, and so did train, which used its outputs; download was reused');
    const view = showSchema.parse(JSON.parse((await mlp('show', result.workflowId, '--json')).stdout));
    const subset = view.steps.find((step) => step.id === 'subset');
    assert.equal(subset?.state, 'succeeded');
    assert.equal(subset?.reuseMiss, `artifact missing: runs/${handle.workflowId}/subset/out.bin`);
    assert.equal(view.steps.find((step) => step.id === 'train')?.reuseMiss, 'upstream step "subset" ran again');
    const fromHistory = progressFromHistory(await workers.client.workflow.getHandle(result.workflowId).fetchHistory(), result.workflowId);
    assert.equal(fromHistory.steps.find((step) => step.id === 'subset')?.reuseMiss, subset?.reuseMiss);
  });

  it('verifies the artifacts a step kind declares among its outputs, whatever their prefix', async () => {
    const { handle } = await firstRun('declared-artifact', { trainModel: (workflowId) => `exports/${workflowId}/model.json` });
    const result = await rerun(handle.workflowId, '--from', 'evaluate');

    const ran = recording.records.filter((record) => record.workflowId === result.workflowId).map((record) => record.stepId);
    assert.deepEqual(ran, ['train', 'evaluate', 'publish']);
    const view = showSchema.parse(JSON.parse((await mlp('show', result.workflowId, '--json')).stdout));
    assert.equal(view.steps.find((step) => step.id === 'train')?.reuseMiss, `artifact missing: exports/${handle.workflowId}/model.json`);
  });

  it('does not reuse a subset whose split manifest is still there but whose shards were removed (e.g. by mlp gc)', async () => {
    const id = randomUUID().slice(0, 8);
    const shard = `datasets/preprocessed/32x32x1-fill/shards/${id}.npy`;
    const manifestKey = `runs/reuse-${id}/subset/train.json`;
    const image = (n: number) => ({ sha256: n.toString(16).padStart(64, '0'), path: `train/NORMAL/${n}.jpeg`, class: 'NORMAL', label: 0, key: shard, row: n });
    await store.put(shard, 'shard bytes');
    await store.putJson(manifestKey, {
      version: 2,
      datasetHash: 'a'.repeat(64),
      split: 'train',
      classes: ['NORMAL'],
      preprocessing: { width: 32, height: 32, channels: 1, fit: 'fill' },
      classCounts: { NORMAL: 2 },
      images: [image(0), image(1)],
    });
    const reuse = createStepReuseActivities({ store, scratchDir: servers.dir });
    const request = { stepId: 'subset', uses: 'subset', from: `old-${id}/r1`, outputs: { trainManifest: manifestKey } };

    assert.deepEqual(await reuse.verifyReusedOutputs(request), { reusable: true, from: request.from, outputs: request.outputs });
    await store.remove(shard);
    assert.deepEqual(await reuse.verifyReusedOutputs(request), {
      reusable: false,
      from: request.from,
      reason: `artifact missing: ${shard} (named by ${manifestKey})`,
    });
  });

  it('--set re-resolves the pipeline file from the recorded params; a step whose inputs changed runs again even upstream of --from', async () => {
    const file = 'test/fixtures/pipelines/rerun-chain.yaml';
    const { resolved } = await loadPipelineFile(file, ['prefix=clean']);
    const handle = await workers.client.workflow.start('runPipeline', pipelineStartOptions(resolved, { workflowId: `rerun-chain-${randomUUID().slice(0, 8)}`, taskQueuePrefix: workers.taskQueuePrefix }));
    await handle.result();
    const ranIn = (workflowId: string): string[] => recording.records.filter((record) => record.workflowId === workflowId).map((record) => record.stepId);

    // Only evaluate's input changes: prepare and train are reused, and the recorded prefix=clean is kept.
    const threshold = await rerun(handle.workflowId, '--from', 'evaluate', '--file', file, '--set', 'threshold=0.7');
    assert.deepEqual(ranIn(threshold.workflowId), ['evaluate']);
    assert.deepEqual(threshold.reuse, ['prepare', 'train']);
    assert.equal(z.object({ value: z.unknown() }).parse(threshold.outputs?.['evaluate']?.['input']).value, 0.7);
    assert.equal(z.object({ value: z.unknown() }).parse(threshold.outputs?.['prepare']?.['input']).value, 'clean-data');

    // prepare's input changes: it runs, and so does everything after it.
    const prefix = await rerun(handle.workflowId, '--from', 'evaluate', '--file', file, '--set', 'prefix=other');
    assert.deepEqual(prefix.from, ['evaluate', 'prepare']);
    assert.deepEqual(ranIn(prefix.workflowId), ['prepare', 'train', 'evaluate']);

    const bare = await mlp('rerun', handle.workflowId, '--from', 'evaluate', '--set', 'threshold=0.7');
    assert.equal(bare.code, 1);
    assert.match(bare.stderr, /--set needs --file <pipeline>/);
    const wrongType = await mlp('rerun', handle.workflowId, '--from', 'evaluate', '--file', file, '--set', 'threshold=high');
    assert.equal(wrongType.code, 1);
    assert.match(wrongType.stderr, /rerun-chain\.yaml:\d+:\d+: --set threshold=high: param "threshold" is a number, got "high"/);
  });

  it('refuses with a clear error: unknown run, unknown step, a running run, --from with --failed, --failed on a run that did not fail', async () => {
    const { handle } = await firstRun('refusals');
    const cases: [string[], RegExp][] = [
      [['no-such-run', '--from', 'train'], /Rerunning no-such-run failed: no such run/],
      [[handle.workflowId, '--from', 'trian'], /--from trian: pipeline "refusals" has no such step \(steps: download, subset, train, evaluate, publish\)/],
      [[handle.workflowId, '--from', 'train', '--failed'], /either --from <step> or --failed, not both/],
      [[handle.workflowId, '--failed'], /--failed, but the run did not fail \(it succeeded\)/],
    ];
    for (const [args, expected] of cases) {
      const result = await mlp('rerun', ...args);
      assert.equal(result.code, 1, `mlp rerun ${args.join(' ')} exits 1`);
      assert.match(result.stderr, expected);
    }

    const held = testPipeline('held', [testStep('wait', 'train', { with: { hold: true } })]);
    const running = await workers.client.workflow.start('runPipeline', pipelineStartOptions(held, { workflowId: `held-${randomUUID().slice(0, 8)}`, taskQueuePrefix: workers.taskQueuePrefix }));
    try {
      const result = await mlp('rerun', running.workflowId, '--from', 'wait');
      assert.equal(result.code, 1);
      assert.match(result.stderr, /the run is still going; wait for it or cancel it first/);
    } finally {
      recording.release(running.workflowId, 'wait');
      await running.result();
    }
  });
});
