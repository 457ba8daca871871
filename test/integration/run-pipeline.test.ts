import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { createNoopActivity } from '../../activities/steps/noop.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { createStepCacheActivities, type CacheRecord } from '../../activities/step-cache.ts';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { getPipelineProgress } from '../../client/runs/progress.ts';
import { PIPELINE_PROGRESS_QUERY, type PipelineProgress, type StepState } from '../../common/pipeline-progress.ts';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../../common/search-attributes.ts';
import type { StepOutputs } from '../../common/step-activities.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { createRecordingSteps, testPipeline, testStep, type StepRecord } from '../helpers/recording-steps.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';

describe('runPipeline on the real Temporal dev server and S3 server', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let workers: PipelineWorkers;
  let store: ObjectStore;
  const recording = createRecordingSteps();

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'pipeline' });
    store = new ObjectStore(servers.storage);
    const deps = { store, scratchDir: servers.dir };
    const cache = createStepCacheActivities(deps);
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'pipeline',
      activities: {
        ...recording.activities,
        ...createNoopActivity(deps),
        ...cache,
        // A cache whose writes fail for one step id: the run must not fail because of it.
        async recordCache(record: CacheRecord) {
          if (record.stepId === 'unrecordable') throw ApplicationFailure.nonRetryable('cache bucket is read-only', 'StorageError');
          return cache.recordCache(record);
        },
      },
    });
  });

  after(async () => {
    await workers?.stop();
    await servers?.stop();
  });

  async function start(spec: ResolvedPipeline): Promise<WorkflowHandle> {
    const workflowId = `${spec.name}-${randomUUID().slice(0, 8)}`;
    return workers.client.workflow.start('runPipeline', pipelineStartOptions(spec, { workflowId, taskQueuePrefix: workers.taskQueuePrefix }));
  }

  async function run(spec: ResolvedPipeline): Promise<{ handle: WorkflowHandle; outputs: Record<string, StepOutputs> }> {
    const handle = await start(spec);
    const outputs: Record<string, StepOutputs> = await handle.result();
    return { handle, outputs };
  }

  const recordsOf = (handle: WorkflowHandle, stepId?: string): StepRecord[] =>
    recording.records.filter((record) => record.workflowId === handle.workflowId && (stepId === undefined || record.stepId === stepId));

  const states = (progress: PipelineProgress): Record<string, StepState> =>
    Object.fromEntries(progress.steps.map((step) => [step.id, step.state]));

  it('runs the two middle steps of a diamond concurrently and passes outputs downstream', async () => {
    const spec = testPipeline('diamond', [
      testStep('prepare', 'noop', { with: { value: 'prepared' } }),
      // Each waits until the other has started: they can only both finish if they run at once.
      testStep('left', 'train', { needs: ['prepare'], with: { meet: ['right'], from: '${{ steps.prepare.outputs.value }}' } }),
      testStep('right', 'train', { needs: ['prepare'], queue: 'gpu', with: { meet: ['left'] } }),
      testStep('join', 'evaluate', {
        needs: ['left', 'right'],
        with: { pair: ['${{ steps.left.outputs.stepId }}', '${{ steps.right.outputs.stepId }}'] },
      }),
    ]);
    const { handle, outputs } = await run(spec);

    const [left] = recordsOf(handle, 'left');
    const [right] = recordsOf(handle, 'right');
    const [join] = recordsOf(handle, 'join');
    assert.ok(left?.endedAt && right?.endedAt && join, 'every step ran once');
    assert.ok(left.startedAt < right.endedAt && right.startedAt < left.endedAt, 'left and right overlap in time');
    assert.ok(join.startedAt >= Math.max(left.endedAt, right.endedAt), 'join starts after both');
    assert.deepEqual(outputs.prepare, { value: 'prepared' });
    assert.deepEqual(outputs.left?.input, { meet: ['right'], from: 'prepared' });
    assert.deepEqual(outputs.join?.input, { pair: ['left', 'right'] });

    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(PIPELINE_SEARCH_ATTRIBUTES.PipelineName), 'diamond');
    assert.equal(description.typedSearchAttributes.get(PIPELINE_SEARCH_ATTRIBUTES.PipelineStatus), 'succeeded');
    assert.equal(description.memo?.specHash, 'spec-diamond');
  });

  it('fails the run naming the failed step and cancels the sibling still running', async () => {
    const spec = testPipeline('failing', [
      testStep('prepare', 'noop'),
      testStep('broken', 'subset', {
        needs: ['prepare'],
        // Fails only once its sibling runs, so there is a running step to cancel.
        with: { meet: ['slow'], failAttempts: 99, failType: 'DatasetError' },
      }),
      testStep('slow', 'train', { needs: ['prepare'], with: { sleepMs: 30_000 } }),
      testStep('after', 'evaluate', { needs: ['broken', 'slow'] }),
    ]);
    const handle = await start(spec);
    const failure = await handle.result().then(
      () => assert.fail('the run should fail'),
      (error: unknown) => error,
    );

    assert.ok(failure instanceof WorkflowFailedError);
    assert.ok(failure.cause instanceof ApplicationFailure);
    assert.equal(failure.cause.type, 'StepFailedError');
    assert.match(failure.cause.message, /^Step "broken" failed: DatasetError: broken failed on purpose \(attempt 1\)/);
    assert.deepEqual(recordsOf(handle, 'broken').map((record) => record.attempt), [1], 'DatasetError is not retried');
    const [slow] = recordsOf(handle, 'slow');
    assert.equal(slow?.outcome, 'cancelled', 'the running sibling saw the cancellation');
    assert.ok((slow.endedAt ?? Infinity) - slow.startedAt < 10_000);
    assert.deepEqual(recordsOf(handle, 'after'), []);

    const progress = await handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
    assert.deepEqual(states(progress), { prepare: 'succeeded', broken: 'failed', slow: 'cancelled', after: 'cancelled' });
    assert.equal(progress.state, 'failed');
    assert.equal(progress.failedStep, 'broken');
    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(PIPELINE_SEARCH_ATTRIBUTES.PipelineStatus), 'failed');
  });

  it('retries a failing step with its retry policy and counts the attempts', async () => {
    const spec = testPipeline('retries', [
      testStep('flaky', 'download', { with: { failAttempts: 2 }, retry: { maximumAttempts: 3, initialInterval: '50ms', backoffCoefficient: 1 } }),
    ]);
    const { handle, outputs } = await run(spec);
    assert.deepEqual(recordsOf(handle, 'flaky').map((record) => [record.attempt, record.outcome]), [
      [1, 'failed'],
      [2, 'failed'],
      [3, 'succeeded'],
    ]);
    assert.equal(outputs.flaky?.stepId, 'flaky');
    const progress = await getPipelineProgress(handle);
    assert.equal(progress.steps[0]?.attempt, 3);
    assert.equal(progress.steps[0]?.state, 'succeeded');
  });

  it('fails the run when retries run out, after exactly maximumAttempts attempts', async () => {
    const spec = testPipeline('exhausted', [
      testStep('flaky', 'download', { with: { failAttempts: 5 }, retry: { maximumAttempts: 2, initialInterval: '50ms', backoffCoefficient: 1 } }),
    ]);
    const handle = await start(spec);
    await assert.rejects(handle.result(), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError && error.cause instanceof ApplicationFailure);
      assert.match(error.cause.message, /^Step "flaky" failed: TestStepError: flaky failed on purpose \(attempt 2\)/);
      return true;
    });
    assert.deepEqual(recordsOf(handle, 'flaky').map((record) => record.attempt), [1, 2]);
  });

  it('reports pending, running and succeeded steps with heartbeat details while the run advances', async () => {
    const spec = testPipeline('progress', [
      testStep('first', 'noop', { with: { value: 1 } }),
      // Held running until the test has looked: no race between the step and the query.
      testStep('second', 'train', { needs: ['first'], with: { hold: true } }),
      testStep('third', 'publish', { needs: ['second'] }),
    ]);
    const handle = await start(spec);
    const running = await waitUntil('second step running with a heartbeat', async () => {
      const progress = await getPipelineProgress(handle);
      const second = progress.steps.find((step) => step.id === 'second');
      return second?.state === 'running' && second.heartbeat !== undefined ? progress : undefined;
    });
    assert.deepEqual(states(running), { first: 'succeeded', second: 'running', third: 'pending' });
    assert.equal(running.state, 'running');
    const second = running.steps[1];
    assert.equal(second?.attempt, 1);
    assert.ok(second?.startedAt !== undefined && second.endedAt === undefined);
    const heartbeat = second.heartbeat;
    assert.ok(typeof heartbeat === 'object' && heartbeat !== null && 'epoch' in heartbeat && 'loss' in heartbeat);
    assert.deepEqual(running.steps[0]?.outputs, { value: 1 });
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(metadata.currentDetails ?? '', /\| ▶️ \| `second` \| train \| cpu \| running \|/);

    recording.release(handle.workflowId, 'second');
    await handle.result();
    const done = await handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
    assert.deepEqual(states(done), { first: 'succeeded', second: 'succeeded', third: 'succeeded' });
    assert.equal(done.state, 'succeeded');
    assert.ok(done.steps.every((step) => step.startedAt !== undefined && step.endedAt !== undefined && !step.cached));
  });

  it('fails the run without retrying when a step names an unknown kind or a missing output', async () => {
    const unknownKind = await start(testPipeline('unknown-kind', [testStep('mystery', 'teleport')]));
    await assert.rejects(unknownKind.result(), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError && error.cause instanceof ApplicationFailure);
      assert.equal(error.cause.type, 'StepFailedError');
      assert.match(error.cause.message, /^Step "mystery" failed: PipelineSpecError: Unknown step kind "teleport" in step "mystery"/);
      return true;
    });

    const badReference = await start(
      testPipeline('bad-reference', [
        testStep('first', 'noop', { with: { value: 1 } }),
        testStep('second', 'noop', { needs: ['first'], with: { value: '${{ steps.first.outputs.missing }}' } }),
      ]),
    );
    await assert.rejects(badReference.result(), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError && error.cause instanceof ApplicationFailure);
      assert.match(
        error.cause.message,
        /^Step "second" failed: PipelineSpecError: Cannot prepare step "second": Cannot resolve \$\{\{ steps\.first\.outputs\.missing \}\}: step "first" has no output "missing"/,
      );
      return true;
    });
  });

  it('cancels the running step and ends as cancelled when the run is cancelled', async () => {
    const handle = await start(testPipeline('cancelled', [testStep('long', 'train', { with: { sleepMs: 30_000 } }), testStep('next', 'publish', { needs: ['long'] })]));
    await waitUntil('the long step to start', async () => recordsOf(handle, 'long')[0]);
    await handle.cancel();
    await assert.rejects(handle.result(), (error: unknown) => error instanceof WorkflowFailedError && error.cause?.name === 'CancelledFailure');
    assert.equal(recordsOf(handle, 'long')[0]?.outcome, 'cancelled');
    const progress = await handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
    assert.deepEqual(states(progress), { long: 'cancelled', next: 'cancelled' });
    assert.equal(progress.state, 'cancelled');
    const description = await handle.describe();
    assert.equal(description.status.name, 'CANCELLED');
    assert.equal(description.typedSearchAttributes.get(PIPELINE_SEARCH_ATTRIBUTES.PipelineStatus), 'cancelled');
  });

  it('upserts the dataset hash and model version search attributes from step outputs', async () => {
    const spec = testPipeline('attributes', [
      testStep('download', 'download', { with: { outputs: { datasetHash: 'd'.repeat(64) } } }),
      testStep('publish', 'publish', { needs: ['download'], with: { name: 'pneumonia', outputs: { version: 7 } } }),
    ]);
    const { handle } = await run(spec);
    const attributes = (await handle.describe()).typedSearchAttributes;
    assert.equal(attributes.get(PIPELINE_SEARCH_ATTRIBUTES.DatasetHash), 'd'.repeat(64));
    assert.equal(attributes.get(PIPELINE_SEARCH_ATTRIBUTES.ModelVersion), 'pneumonia/7');
    // Visibility is eventually consistent: wait until the run is listed under its attributes.
    const found = await waitUntil('the run in visibility', async () => {
      const ids: string[] = [];
      const query = `ModelVersion = "pneumonia/7" AND PipelineStatus = "succeeded"`;
      for await (const execution of workers.client.workflow.list({ query })) ids.push(execution.workflowId);
      return ids.length > 0 ? ids : undefined;
    });
    assert.deepEqual(found, [handle.workflowId]);
  });

  describe('step cache', () => {
    const artifact = `inputs/${randomUUID()}/dataset.json`;
    const cachedSpec = () =>
      testPipeline('cached', [
        testStep('subset', 'subset', {
          cache: true,
          // The output names an object that exists: a hit is served only while its artifacts are there.
          with: { datasetManifest: artifact, imageSize: 64, fractions: { train: 0.2, val: 0.05 }, outputs: { trainManifest: artifact } },
        }),
        testStep('train', 'train', { needs: ['subset'], with: { manifest: '${{ steps.subset.outputs.trainManifest }}' } }),
      ]);

    before(async () => {
      await store.put(artifact, Buffer.from('{"images": ["a.jpeg", "b.jpeg"]}'));
    });

    it('skips a cached step on the second run without calling its activity and reuses its outputs', async () => {
      const first = await run(cachedSpec());
      assert.equal(recordsOf(first.handle, 'subset').length, 1);
      const firstProgress = await first.handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
      assert.equal(firstProgress.steps[0]?.state, 'succeeded');
      const key = firstProgress.steps[0]?.cacheKey;
      assert.match(key ?? '', /^[0-9a-f]{64}$/);
      assert.ok(await store.exists(`cache/${key}.json`));

      const second = await run(cachedSpec());
      assert.deepEqual(recordsOf(second.handle, 'subset'), [], 'the cached step activity was not called');
      assert.equal(recordsOf(second.handle, 'train').length, 1, 'uncached steps still run');
      assert.deepEqual(second.outputs.subset, first.outputs.subset);
      const progress = await second.handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
      assert.equal(progress.steps[0]?.state, 'cached');
      assert.equal(progress.steps[0]?.cached, true);
      assert.equal(progress.steps[0]?.cacheKey, key);
    });

    it('still succeeds when the cache entry cannot be written, and the step runs again next time', async () => {
      const spec = () =>
        testPipeline('unrecordable', [testStep('unrecordable', 'subset', { cache: true, with: { datasetManifest: artifact, seed: 7 } })]);
      const first = await run(spec());
      const progress = await first.handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
      assert.equal(progress.steps[0]?.state, 'succeeded');
      assert.equal(await store.exists(`cache/${progress.steps[0]?.cacheKey}.json`), false);
      const second = await run(spec());
      assert.equal(recordsOf(second.handle, 'unrecordable').length, 1, 'no entry, so no hit');
    });

    it('misses the cache after one byte of an input artifact changed under the same key', async () => {
      const before = await run(cachedSpec());
      const keyBefore = (await before.handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY)).steps[0]?.cacheKey;
      const bytes = await store.get(artifact);
      bytes[bytes.length - 2] = bytes[bytes.length - 2] === 0x5d ? 0x20 : 0x5d;
      await store.put(artifact, bytes);

      const after = await run(cachedSpec());
      assert.equal(recordsOf(after.handle, 'subset').length, 1, 'the step ran again');
      const progress = await after.handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
      assert.equal(progress.steps[0]?.state, 'succeeded');
      assert.notEqual(progress.steps[0]?.cacheKey, keyBefore);
    });
  });
});
