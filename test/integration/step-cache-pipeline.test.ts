import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFile, cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { fingerprintStepKinds, PROJECT_ROOT } from '../../activities/code-fingerprint.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { cacheEntryKey, cacheEntrySchema, createStepCacheActivities } from '../../activities/step-cache.ts';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { progressFromHistory } from '../../client/runs/run-history.ts';
import { changedCacheKeyParts, type CacheKeyParts } from '../../common/cache-key.ts';
import { PIPELINE_PROGRESS_QUERY, type PipelineProgress, type StepProgress } from '../../common/pipeline-progress.ts';
import type { StepActivity } from '../../common/step-activities.ts';
import { STEP_KINDS } from '../../common/step-kinds/index.ts';
import { startPipelineWorkers } from '../helpers/pipeline-workers.ts';
import { createRecordingSteps, testPipeline, testStep } from '../helpers/recording-steps.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

/**
 * The step cache end to end: the real workflow, the real cache activities, Temporal and S3. The
 * `subset` activity is a stand-in that writes one artifact per run (its split manifest) and
 * counts its calls, so a hit is visible as a call that did not happen.
 */
describe('step cache of runPipeline: code-aware keys and verified hits', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let store: ObjectStore;
  const recording = createRecordingSteps();
  const dataset = `inputs/${randomUUID()}/dataset.json`;
  /** Workflow ids of the runs whose subset activity ran. */
  const subsetRuns: string[] = [];

  const subsetStandIn: StepActivity = async (_input, context) => {
    const trainManifest = `${context.runPrefix}train.json`;
    await store.put(trainManifest, JSON.stringify({ writtenBy: context.workflowId }));
    subsetRuns.push(context.workflowId);
    return { trainManifest, counts: {} };
  };

  // Each test draws its own seed: equal inputs would share cache entries across tests.
  const spec = (name: string, seed: number) =>
    testPipeline(name, [
      testStep('subset', 'subset', { cache: true, with: { datasetManifest: dataset, seed, imageSize: 64, fractions: { train: 0.2, val: 0.05 } } }),
    ]);

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'cache-pipeline' });
    store = new ObjectStore(servers.storage);
    await store.put(dataset, '{"images": ["a.jpeg", "b.jpeg"]}');
  });

  after(async () => {
    await servers?.stop();
  });

  interface Run {
    handle: WorkflowHandle;
    step: StepProgress;
    ran: boolean;
  }

  /** Starts workers whose cache activities key on `codeFingerprints` (the checkout's when omitted). */
  async function workersWith(codeFingerprints?: Record<string, string>) {
    const workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'cache-pipeline',
      activities: {
        ...recording.activities,
        subsetDataset: subsetStandIn,
        ...createStepCacheActivities({ store, scratchDir: servers.dir, ...(codeFingerprints ? { codeFingerprints } : {}) }),
      },
    });
    return {
      async run(name: string, seed: number): Promise<Run> {
        const workflowId = `${name}-${randomUUID().slice(0, 8)}`;
        const handle = await workers.client.workflow.start('runPipeline', pipelineStartOptions(spec(name, seed), { workflowId, taskQueuePrefix: workers.taskQueuePrefix }));
        await handle.result();
        const progress = await handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
        const step = progress.steps[0];
        assert.ok(step);
        return { handle, step, ran: subsetRuns.includes(workflowId) };
      },
      stop: () => workers.stop(),
    };
  }

  const entryAt = async (key: string | undefined) => cacheEntrySchema.parse(await store.getJson(cacheEntryKey(key ?? '')));

  async function entryParts(key: string | undefined): Promise<CacheKeyParts> {
    const { parts } = await entryAt(key);
    assert.ok(parts, 'the entry records the parts of its key');
    return parts;
  }

  it("misses after a change to code the step runs and hits after a change to code it does not run, on the worker's fingerprints", async () => {
    const copy = await mkdtemp(path.join(tmpdir(), 'mlp-code-'));
    try {
      for (const entry of ['activities', 'common', 'package-lock.json']) await cp(path.join(PROJECT_ROOT, entry), path.join(copy, entry), { recursive: true });
      const kinds = STEP_KINDS.map((kind) => kind.uses);
      const fingerprintsOf = async () => {
        const graphs = await fingerprintStepKinds(kinds, copy);
        return { graphs, fingerprints: Object.fromEntries(Object.entries(graphs).map(([uses, graph]) => [uses, graph.fingerprint])) };
      };
      const original = await fingerprintsOf();
      const pipeline = `code-${randomUUID().slice(0, 6)}`;
      const seed = 1;

      const first = await workersWith(original.fingerprints);
      const [cold, warm] = [await first.run(pipeline, seed), await first.run(pipeline, seed)];
      await first.stop();
      assert.equal(cold.ran, true);
      assert.deepEqual([warm.ran, warm.step.state, warm.step.cacheKey], [false, 'cached', cold.step.cacheKey], 'same code: a hit');

      // Evaluation code is no part of what subset runs.
      assert.ok(!original.graphs.subset?.files.includes('activities/evaluation/metrics.ts'));
      await appendFile(path.join(copy, 'activities/evaluation/metrics.ts'), '\nexport const unrelatedChange = 1;\n');
      const unrelated = await fingerprintsOf();
      assert.equal(unrelated.fingerprints.subset, original.fingerprints.subset);
      assert.notEqual(unrelated.fingerprints.evaluate, original.fingerprints.evaluate);
      const second = await workersWith(unrelated.fingerprints);
      const afterUnrelated = await second.run(pipeline, seed);
      await second.stop();
      assert.deepEqual([afterUnrelated.ran, afterUnrelated.step.state], [false, 'cached'], 'unrelated change: still a hit');

      // A helper subset reaches only through common/ (no `version` bumped).
      assert.ok(original.graphs.subset?.files.includes('common/dataset-manifest.ts'));
      await appendFile(path.join(copy, 'common/dataset-manifest.ts'), '\nexport const relatedChange = 1;\n');
      const related = await fingerprintsOf();
      const third = await workersWith(related.fingerprints);
      const [changed, again] = [await third.run(pipeline, seed), await third.run(pipeline, seed)];
      await third.stop();
      assert.deepEqual([changed.ran, changed.step.state], [true, 'succeeded'], 'changed code: a miss, the step ran');
      assert.notEqual(changed.step.cacheKey, cold.step.cacheKey);
      assert.deepEqual(changedCacheKeyParts(await entryParts(cold.step.cacheKey), await entryParts(changed.step.cacheKey)), ['code']);
      assert.deepEqual([again.ran, again.step.state], [false, 'cached'], 'the changed code hits its own entry');
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('runs a step again when an artifact of its cache entry was deleted or changed, records why, and overwrites the entry', async () => {
    const workers = await workersWith();
    try {
      const pipeline = `verified-${randomUUID().slice(0, 6)}`;
      const seed = 2;
      const first = await workers.run(pipeline, seed);
      assert.equal(first.ran, true);
      const key = first.step.cacheKey;
      const deleted = `runs/${first.handle.workflowId}/subset/train.json`;
      assert.equal(first.step.outputs?.trainManifest, deleted);
      await store.remove(deleted);

      const second = await workers.run(pipeline, seed);
      assert.deepEqual([second.ran, second.step.state, second.step.cacheKey], [true, 'succeeded', key]);
      const why = `cache entry of run ${first.handle.workflowId} not used: output trainManifest: artifact ${deleted} is missing`;
      assert.equal(second.step.cacheMiss, why);
      const shown = progressFromHistory(await second.handle.fetchHistory(), second.handle.workflowId);
      assert.equal(shown.steps[0]?.cacheMiss, why, 'mlp show of the finished run says why too');
      const entry = await entryAt(key);
      assert.equal(entry.workflowId, second.handle.workflowId, 'the entry now points at the recomputed run');
      assert.deepEqual(entry.outputs, second.step.outputs);

      const third = await workers.run(pipeline, seed);
      assert.deepEqual([third.ran, third.step.state, third.step.outputs], [false, 'cached', second.step.outputs], 'the rewritten entry serves hits');

      const rewritten = `runs/${second.handle.workflowId}/subset/train.json`;
      await store.put(rewritten, '{"writtenBy": "someone else"}');
      const fourth = await workers.run(pipeline, seed);
      assert.equal(fourth.ran, true);
      assert.match(fourth.step.cacheMiss ?? '', new RegExp(`^cache entry of run ${second.handle.workflowId} not used: output trainManifest: artifact ${rewritten} changed since it was cached \\(sha256 [0-9a-f]{12}…, recorded [0-9a-f]{12}…\\)$`));
    } finally {
      await workers.stop();
    }
  });
});
