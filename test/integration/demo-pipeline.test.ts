import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { z } from 'zod';
import { ObjectStore } from '../../activities/object-store.ts';
import { fetchLayersModelFiles } from '../../activities/model-io/layers-model-io.ts';
import { resolveTemporalBinary } from '../../client/servers/binaries.ts';
import { startCliWorker, type CliWorker } from '../helpers/cli-worker.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

const exec = promisify(execFile);

/**
 * The real thing end to end: pipelines/demo.yaml (real chest X-rays from ../shared/data, frozen
 * MobileNet with ImageNet weights from ../shared/models) submitted by the CLI, run by a worker
 * *process* (as users run it) on the real dev server and S3 server, then reproduced.
 */
describe('the demo pipeline end to end: mlp run --wait, list, show, reproduce and gc', function () {
  this.timeout(600_000);
  let servers: TestServers;
  let cli: CliWorker;
  const prefix = `demo-${randomUUID().slice(0, 8)}`;
  // Small and quick on 2 cores, still real: ~160 training images, 2 epochs.
  const settings = ['--set', 'fraction=0.03', '--set', 'epochs=2'];

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'demo' });
    // As `mlp demo` runs it: a workflows process and an activities process.
    cli = startCliWorker(servers, {
      prefix,
      env: {
        // Pinned, not auto: reproduce must find the weights bit-identical, which only the cpu and
        // wasm engines promise (on a GPU machine auto would pick webgpu; engine.test.ts covers auto).
        MLP_ENGINE: 'wasm',
      },
    });
  });

  after(async () => {
    await cli?.stop();
    await servers?.stop();
  });

  const mlp = (...args: string[]) => cli.mlp(...args);

  const metricsSchema = z.object({ accuracy: z.number(), auc: z.number(), sensitivity: z.number(), specificity: z.number() });
  const runSchema = z.object({
    workflowId: z.string(),
    status: z.literal('completed'),
    outputs: z.object({
      download: z.object({ datasetHash: z.string().length(64) }).loose(),
      subset: z.object({ trainManifest: z.string(), valManifest: z.string(), testManifest: z.string(), counts: z.record(z.string(), z.record(z.string(), z.number())) }).loose(),
      train: z.object({ model: z.string(), weightsSha256: z.string().length(64), engine: z.string(), epochs: z.literal(2) }).loose(),
      evaluate: z.object({ metrics: metricsSchema, testSize: z.number(), metricsKey: z.string(), report: z.string() }).loose(),
      publish: z.object({ version: z.number(), promoted: z.boolean() }).loose(),
    }),
  });
  let workflowId = '';

  it('runs with --wait, exits 0 and prints honest test metrics of a model that learned', async () => {
    const result = await mlp('run', 'pipelines/demo.yaml', ...settings, '--run-key', 'e2e', '--wait', '--json');
    assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
    const run = runSchema.parse(JSON.parse(result.stdout));
    workflowId = run.workflowId;
    const { subset, train, evaluate, publish } = run.outputs;

    assert.equal(train.engine, 'wasm', 'the worker trains on the engine it was started with (MLP_ENGINE=wasm), even on a GPU machine');
    // Test images = the test split the subset wrote, scored once each without augmentation.
    const testCount = Object.values(subset.counts['test'] ?? {}).reduce((sum, n) => sum + n, 0);
    assert.equal(evaluate.testSize, testCount);
    assert.ok(evaluate.metrics.auc > 0.85, `test ROC AUC ${evaluate.metrics.auc} should show a model that learned`);
    assert.ok(evaluate.metrics.accuracy > 0.7, `test accuracy ${evaluate.metrics.accuracy}`);

    // The metrics the step reported are the ones it stored, and the confusion matrix covers the test set.
    const store = new ObjectStore(servers.storage);
    const stored = z.object({ confusionMatrix: z.array(z.array(z.number())) }).loose().parse(await store.getJson(evaluate.metricsKey));
    assert.equal(stored.confusionMatrix.flat().reduce((sum, n) => sum + n, 0), testCount);
    assert.match((await store.get(evaluate.report)).toString('utf8'), /Classification report/);
    assert.equal(publish.version, 1);
  });

  it('lists the run with its search attributes and shows every step', async () => {
    const listed = await mlp('list', '--pipeline', 'pneumonia-demo', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    const runs = z
      .array(z.object({ workflowId: z.string(), pipeline: z.string(), pipelineStatus: z.string(), datasetHash: z.string(), modelVersion: z.string() }).loose())
      .parse(JSON.parse(listed.stdout));
    const mine = runs.find((run) => run.workflowId === workflowId);
    assert.ok(mine, `${workflowId} is listed`);
    assert.equal(mine.pipeline, 'pneumonia-demo');
    assert.equal(mine.pipelineStatus, 'succeeded');
    assert.equal(mine.datasetHash.length, 64);
    assert.equal(mine.modelVersion, 'pneumonia-demo/1');

    const shown = await mlp('show', workflowId, '--json');
    assert.equal(shown.code, 0, shown.stderr);
    const view = z.object({ steps: z.array(z.object({ id: z.string(), state: z.string() }).loose()) }).loose().parse(JSON.parse(shown.stdout));
    assert.deepEqual(view.steps.map((step) => [step.id, step.state]), [
      ['download', 'succeeded'], ['subset', 'succeeded'], ['train', 'succeeded'], ['evaluate', 'succeeded'], ['publish', 'succeeded'],
    ]);
  });

  it('reproduces the run: same dataset hash, identical split manifests and model weights', async () => {
    const result = await mlp('reproduce', workflowId, '--json');
    assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
    const report = z.object({ reproduced: z.boolean(), steps: z.array(z.object({ step: z.string(), result: z.string() })) }).loose().parse(JSON.parse(result.stdout));
    assert.equal(report.reproduced, true);
    assert.deepEqual(report.steps.map((step) => [step.step, step.result]), [
      ['download', 'identical'], ['subset', 'identical'], ['train', 'identical'], ['evaluate', 'identical'], ['publish', 'identical'],
    ]);
  });

  it('mlp gc: a dry run lists exactly the unreferenced objects, --apply deletes them, and the demo still reproduces', async () => {
    const store = new ObjectStore(servers.storage);
    const random = (): string => createHash('sha256').update(randomUUID()).digest('hex');
    // What a run beyond the kept ones leaves behind: its cache entry, a shard and a feature no
    // kept split manifest refers to. Everything the demo run wrote is referenced and must stay.
    const orphanEntry = `cache/${random()}.json`;
    const orphanShard = `datasets/preprocessed/w8-h8-stretch-gray-v2/shards/${random()}.npy`;
    const orphanFeature = `features/${random()}/symmetric/plain/${random()}.bin`;
    const entryBody = JSON.stringify({ key: orphanEntry.slice(6, -5), uses: 'subset', version: '1', outputs: {}, workflowId: 'pneumonia-demo-gone', stepId: 'subset', recordedAt: new Date().toISOString() });
    await store.put(orphanEntry, Buffer.from(entryBody));
    await store.put(orphanShard, Buffer.alloc(300));
    await store.put(orphanFeature, Buffer.alloc(40));
    const before = new Set([...(await store.list('cache/')), ...(await store.list('datasets/preprocessed/')), ...(await store.list('features/'))]);

    const classSchema = z.object({ count: z.number(), bytes: z.number(), keys: z.array(z.string()), kept: z.number() });
    const reportSchema = z.object({
      applied: z.boolean(),
      keptRuns: z.array(z.string()),
      registryRuns: z.array(z.string()),
      removed: z.object({ cacheEntries: classSchema, shards: classSchema, features: classSchema }),
      totalBytes: z.number(),
    });
    // --keep-runs 1: the newest run is the reproduction; the demo run stays because it published
    // a registered version. --grace 0s: nothing is spared for being new.
    const dry = await mlp('gc', '--keep-runs', '1', '--grace', '0s', '--json');
    assert.equal(dry.code, 0, dry.stderr);
    const planned = reportSchema.parse(JSON.parse(dry.stdout));
    assert.equal(planned.applied, false);
    assert.ok(planned.registryRuns.includes(workflowId), 'the run behind pneumonia-demo v1 is kept');
    assert.deepEqual(planned.removed.cacheEntries.keys, [orphanEntry]);
    assert.deepEqual(planned.removed.shards.keys, [orphanShard]);
    assert.deepEqual(planned.removed.features.keys, [orphanFeature]);
    assert.equal(planned.totalBytes, Buffer.byteLength(entryBody) + 300 + 40);
    assert.ok(planned.removed.cacheEntries.kept >= 3 && planned.removed.shards.kept >= 1 && planned.removed.features.kept >= 1);
    for (const key of before) assert.ok(await store.exists(key), `the dry run deleted ${key}`);

    const human = await mlp('gc', '--keep-runs', '1', '--grace', '0s');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^dry run: would remove 3 objects, /);
    assert.ok(human.stdout.includes(orphanShard));

    const applied = reportSchema.parse(JSON.parse((await mlp('gc', '--keep-runs', '1', '--grace', '0s', '--apply', '--json')).stdout));
    assert.equal(applied.applied, true);
    assert.equal(applied.totalBytes, planned.totalBytes);
    for (const key of before) {
      const removed = [orphanEntry, orphanShard, orphanFeature].includes(key);
      assert.equal(await store.exists(key), !removed, `${key} ${removed ? 'survived' : 'was deleted'}`);
    }
    const again = reportSchema.parse(JSON.parse((await mlp('gc', '--keep-runs', '1', '--grace', '0s', '--json')).stdout));
    assert.equal(again.totalBytes, 0, 'nothing left to collect');

    // The registered model's files are all there, and the run still reproduces bit for bit.
    const files = await fetchLayersModelFiles(`s3://${store.bucket}/models/pneumonia-demo/1/model`, store);
    assert.ok(files.weightData.byteLength > 0);
    const reproduced = await mlp('reproduce', workflowId, '--json');
    assert.equal(reproduced.code, 0, `${reproduced.stderr}\n${reproduced.stdout}`);
    assert.equal(z.object({ reproduced: z.boolean() }).loose().parse(JSON.parse(reproduced.stdout)).reproduced, true);
  });

  it('keeps the S3 secret out of the worker log, the exported history and every CLI output; the history stays small', async () => {
    const secret = servers.storage.secretAccessKey;
    assert.ok(cli.output.length > 0);
    for (const output of cli.output) assert.ok(!output.includes(secret), 'the CLI printed the secret');
    assert.ok(!(await readFile(cli.logFile, 'utf8')).includes(secret), 'the worker log holds the secret');
    // The history as `temporal workflow show --output json` exports it.
    const temporal = await resolveTemporalBinary();
    const { stdout: history } = await exec(temporal.path, ['workflow', 'show', '-w', workflowId, '--address', servers.temporalAddress, '--namespace', servers.namespace, '--output', 'json'], {
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.ok(!history.includes(secret), 'the workflow history holds the secret');
    // Steps pass object keys, never data, so the history stays small: 125 kB of compact JSON
    // (the train step's 2-trial sweep holds each trial's inputs, cache bookkeeping and outputs:
    // 112 kB measured) leaves room for more steps, while one leaked image or weights tensor would exceed it.
    const compact = JSON.stringify(JSON.parse(history)).length;
    console.log(`      demo run history: ${compact} bytes of compact JSON (${history.length} as exported, indented)`);
    assert.ok(compact < 125_000, `the demo run's history is ${compact} bytes`);
  });
});
