import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Browser } from 'playwright-core';
import { z } from 'zod';
import { ObjectStore } from '../../activities/object-store.ts';
import { formatMetric } from '../../client/results/run-report-html.ts';
import { LOCATE_OBJECTS_WORKFLOW, LocateObjectsResultSchema, type LocateObjectsRequest } from '../../common/stored-objects.ts';
import { workflowTaskQueue } from '../../common/task-queues.ts';
import { launchChromium, openPage } from '../helpers/browser.ts';
import { startCliWorker, type CliWorker } from '../helpers/cli-worker.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

/**
 * What a run produced, as a user reads it: `mlp artifacts` (list and get), `mlp report` and
 * `mlp compare`, on two real demo runs (pipelines/demo.yaml, tiny settings) that differ only in
 * their seed, run by a CLI worker as in demo-pipeline.test.ts. The HTML pages are opened in a
 * real headless Chromium.
 */
describe('a run’s results: mlp artifacts, report and compare on two demo runs', function () {
  this.timeout(900_000);
  let servers: TestServers;
  let cli: CliWorker;
  let browser: Browser;
  let dir = '';
  const prefix = `results-${randomUUID().slice(0, 8)}`;
  const settings = ['--set', 'fraction=0.03', '--set', 'epochs=2'];

  const metricsSchema = z.record(z.string(), z.number());
  const runSchema = z.object({
    workflowId: z.string(),
    status: z.literal('completed'),
    outputs: z.object({
      download: z.object({ datasetManifest: z.string(), report: z.string(), datasetHash: z.string() }).loose(),
      subset: z.object({ trainManifest: z.string(), valManifest: z.string(), testManifest: z.string(), subsetRecord: z.string(), manifestHash: z.string() }).loose(),
      train: z.object({ model: z.string(), history: z.string(), weightsSha256: z.string() }).loose(),
      evaluate: z.object({ metrics: metricsSchema, metricsKey: z.string(), predictions: z.string(), report: z.string(), plots: z.record(z.string(), z.string()) }).loose(),
      publish: z.object({ version: z.number(), promoted: z.boolean() }).loose(),
    }),
  });
  type Run = z.infer<typeof runSchema>;
  const runs: Run[] = [];

  before(async () => {
    // Fail at once, with how to install it, where there is no browser to open the pages in.
    browser = await launchChromium();
    servers = await startTestServers({ bucketPrefix: 'results' });
    cli = startCliWorker(servers, { prefix, env: { MLP_ENGINE: 'wasm' } });
    dir = await mkdtemp(join(servers.dir, 'results-'));
  });

  after(async () => {
    await browser?.close();
    await cli?.stop();
    await servers?.stop();
  });

  const mlp = (...args: string[]) => cli.mlp(...args);
  const run = (index: number): Run => {
    const found = runs[index];
    assert.ok(found, `run ${index} finished`);
    return found;
  };

  it('runs the demo twice, with seeds 1 and 2', async () => {
    for (const seed of [1, 2]) {
      const result = await mlp('run', 'pipelines/demo.yaml', ...settings, '--set', `seed=${seed}`, '--run-key', `seed${seed}`, '--wait', '--json');
      assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
      runs.push(runSchema.parse(JSON.parse(result.stdout)));
    }
  });

  it('mlp artifacts lists every artifact the steps declared, stored, with its size', async () => {
    const { workflowId, outputs } = run(0);
    const result = await mlp('artifacts', workflowId, '--json');
    assert.equal(result.code, 0, result.stderr);
    const listed = z
      .object({ artifacts: z.array(z.object({ step: z.string(), output: z.string(), key: z.string(), path: z.string(), stored: z.boolean(), bytes: z.number() }).loose()) })
      .parse(JSON.parse(result.stdout)).artifacts;
    // What each kind declares (common/step-kinds/*: artifactOutputs), read from the run's outputs.
    const expected = [
      ['download', outputs.download.datasetManifest],
      ['download', outputs.download.report],
      ['subset', outputs.subset.trainManifest],
      ['subset', outputs.subset.valManifest],
      ['subset', outputs.subset.testManifest],
      ['subset', outputs.subset.subsetRecord],
      ['train', outputs.train.model],
      ['train', outputs.train.history],
      ['evaluate', outputs.evaluate.metricsKey],
      ['evaluate', outputs.evaluate.predictions],
      ['evaluate', outputs.evaluate.report],
      ...Object.values(outputs.evaluate.plots).map((key) => ['evaluate', key]),
    ];
    assert.deepEqual(listed.map((artifact) => [artifact.step, artifact.key]).sort(), expected.sort());
    for (const artifact of listed) {
      assert.ok(artifact.stored && artifact.bytes > 0, `${artifact.key} is stored and not empty`);
    }
    const plot = listed.find((artifact) => artifact.output === 'plots.roc');
    assert.equal(plot?.path, 'evaluate/plots/roc-curve.png');

    const human = await mlp('artifacts', workflowId, 'evaluate');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /evaluate\/report\.md\s+[\d.]+ k?B/);
    assert.ok(!human.stdout.includes('subset/'), 'only the evaluate step is listed');
  });

  it('mlp artifacts get of the evaluate folder writes report.md and the PNG plots byte-identical to the stored objects', async () => {
    const { workflowId, outputs } = run(0);
    const out = join(dir, 'get');
    const result = await mlp('artifacts', 'get', workflowId, 'evaluate', '-o', out, '--json');
    assert.equal(result.code, 0, result.stderr);
    const files = (await readdir(out, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => relative(out, join(entry.parentPath, entry.name)));
    const store = new ObjectStore(servers.storage);
    const wanted = [outputs.evaluate.report, ...Object.values(outputs.evaluate.plots)];
    for (const key of wanted) {
      const path = `evaluate/${key.split('/evaluate/')[1] ?? ''}`;
      assert.ok(files.includes(path), `${path} was written (wrote ${files.join(', ')})`);
      assert.ok((await readFile(join(out, path))).equals(await store.get(key)), `${path} is byte-identical to ${key}`);
    }
    assert.ok(files.includes('evaluate/report.md') && files.filter((file) => file.endsWith('.png')).length >= 4);

    const one = await mlp('artifacts', 'get', workflowId, 'evaluate/plots/roc-curve.png', '-o', join(dir, 'one'));
    assert.equal(one.code, 0, one.stderr);
    assert.ok((await readFile(join(dir, 'one', 'evaluate/plots/roc-curve.png'))).equals(await store.get(outputs.evaluate.plots['roc'] ?? '')));
  });

  it('refuses an unknown run, a step that wrote nothing and a path outside the run with exit 1 and a clear message', async () => {
    const { workflowId } = run(0);
    const unknown = await mlp('artifacts', 'pneumonia-demo-no-such-run');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /RunNotFoundError: No run pneumonia-demo-no-such-run/);
    const nothing = await mlp('artifacts', 'get', workflowId, 'publish');
    assert.equal(nothing.code, 1);
    assert.match(nothing.stderr, /Step "publish" of run .* wrote nothing: a publish step declares no artifacts/);
    const outside = await mlp('artifacts', 'get', workflowId, 'evaluate/../../other-run/evaluate/report.md', '-o', join(dir, 'outside'));
    assert.equal(outside.code, 1);
    assert.match(outside.stderr, /is outside the run/);
    const noStep = await mlp('artifacts', workflowId, 'nosuch');
    assert.equal(noStep.code, 1);
    assert.match(noStep.stderr, /has no step "nosuch" \(its steps: download, subset, train, evaluate, publish\)/);
    const absent = await mlp('artifacts', 'get', workflowId, 'evaluate/no-such-file.txt', '-o', join(dir, 'absent'));
    assert.equal(absent.code, 1);
    assert.match(absent.stderr, /Nothing is stored at evaluate\/no-such-file\.txt/);
    const report = await mlp('report', 'pneumonia-demo-no-such-run', '-o', join(dir, 'none.html'));
    assert.equal(report.code, 1);
    assert.match(report.stderr, /No run pneumonia-demo-no-such-run/);
    const alone = await mlp('compare', workflowId);
    assert.equal(alone.code, 2, 'one run is a usage error');
    assert.match(alone.stderr, /at least two run ids/);
  });

  it('the worker describes and presigns only what runs, datasets and models hold, with URLs that need no credentials', async () => {
    const { outputs } = run(0);
    const connection = await Connection.connect({ address: servers.temporalAddress });
    try {
      const client = new Client({ connection, namespace: servers.namespace });
      const locate = (request: LocateObjectsRequest) =>
        client.workflow.execute(LOCATE_OBJECTS_WORKFLOW, { taskQueue: workflowTaskQueue(prefix), workflowId: `locate-${randomUUID().slice(0, 8)}`, args: [request] });
      const located = LocateObjectsResultSchema.parse(await locate({ targets: [outputs.evaluate.report], presignSeconds: 60 }));
      const object = located.targets[0]?.objects[0];
      assert.ok(object?.url !== undefined && !object.url.includes(servers.storage.secretAccessKey));
      const response = await fetch(object.url);
      assert.equal(response.status, 200);
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(await new ObjectStore(servers.storage).get(outputs.evaluate.report)));
      for (const request of [{ targets: ['cache/'] }, { targets: ['code/x.tar.gz'] }, { targets: [outputs.evaluate.report], presignSeconds: 86_400 }]) {
        await assert.rejects(locate(request), (error: unknown) => error instanceof WorkflowFailedError && error.cause?.cause instanceof ApplicationFailure && error.cause.cause.type === 'ConfigError', JSON.stringify(request));
      }
    } finally {
      await connection.close();
    }
  });

  it('mlp report writes one self-contained page that Chromium shows with every plot loaded, the run’s own metrics and no error', async () => {
    const { workflowId, outputs } = run(0);
    const file = join(dir, 'report.html');
    const result = await mlp('report', workflowId, '-o', file);
    assert.equal(result.code, 0, result.stderr);
    const html = await readFile(file, 'utf8');
    assert.ok(!/\bsrc="(?!data:)/.test(html) && !/<script/i.test(html), 'nothing is loaded from elsewhere and nothing runs');

    const page = await openPage(browser, file);
    assert.deepEqual(page.errors, []);
    assert.deepEqual(page.requests, []);
    assert.ok(page.images.length >= Object.keys(outputs.evaluate.plots).length, `${page.images.length} images for ${Object.keys(outputs.evaluate.plots).length} plots`);
    for (const image of page.images) assert.ok(image.complete && image.naturalWidth > 0, `image "${image.alt}" loaded`);
    const headline = page.metrics.filter((metric) => metric.step === 'evaluate');
    assert.deepEqual(new Set(headline.map((metric) => metric.metric)), new Set(Object.keys(outputs.evaluate.metrics)));
    for (const shown of headline) {
      const value = outputs.evaluate.metrics[shown.metric] ?? NaN;
      assert.equal(Number(shown.value), value, `${shown.metric} is the run's output`);
      assert.equal(shown.text, formatMetric(value));
    }
    for (const text of ['Classification report', outputs.train.weightsSha256, outputs.download.datasetHash, outputs.subset.manifestHash, 'cache', 'selected', `pneumonia-demo v${outputs.publish.version}`]) {
      assert.ok(page.bodyText.includes(text), `the page shows ${text}`);
    }
  });

  it('mlp compare of the two seeds lists seed among the differing params and both AUCs; compare.html overlays their curves', async () => {
    const [first, second] = [run(0), run(1)];
    const result = await mlp('compare', first.workflowId, second.workflowId, '--json');
    assert.equal(result.code, 0, result.stderr);
    const comparison = z
      .object({ differingParams: z.array(z.string()), metrics: z.array(z.object({ name: z.string(), values: z.array(z.number().nullable()), deltas: z.array(z.number().nullable()) })) })
      .parse(JSON.parse(result.stdout));
    assert.deepEqual(comparison.differingParams, ['seed']);
    const auc = comparison.metrics.find((row) => row.name === 'evaluate.auc');
    assert.deepEqual(auc?.values, [first.outputs.evaluate.metrics['auc'], second.outputs.evaluate.metrics['auc']]);

    const table = await mlp('compare', first.workflowId, second.workflowId);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /params that differ\n\s+seed\s+1\s+2/);
    assert.match(table.stdout, new RegExp(`evaluate\\.auc\\s+${formatMetric(first.outputs.evaluate.metrics['auc'] ?? NaN)}\\s+${formatMetric(second.outputs.evaluate.metrics['auc'] ?? NaN)}`));

    // What `mlp list --json | jq -r '.[].workflowId'` gives, and the --last form: the same two runs.
    const listed = z.array(z.object({ workflowId: z.string() }).loose()).parse(JSON.parse((await mlp('list', '--pipeline', 'pneumonia-demo', '--limit', '2', '--json')).stdout));
    const last = await mlp('compare', '--last', '2', '--pipeline', 'pneumonia-demo', '--json');
    assert.equal(last.code, 0, last.stderr);
    const lastRuns = z.object({ runs: z.array(z.object({ workflowId: z.string() }).loose()) }).parse(JSON.parse(last.stdout)).runs;
    assert.deepEqual(lastRuns.map((entry) => entry.workflowId), listed.map((entry) => entry.workflowId));

    const file = join(dir, 'compare.html');
    const written = await mlp('compare', first.workflowId, second.workflowId, '-o', file);
    assert.equal(written.code, 0, written.stderr);
    const page = await openPage(browser, file);
    assert.deepEqual(page.errors, []);
    assert.deepEqual(page.requests, []);
    for (const image of page.images) assert.ok(image.complete && image.naturalWidth > 0, `image "${image.alt}" loaded`);
    assert.equal(page.charts, 3, 'training loss, validation loss and ROC charts');
    assert.equal(page.polylines, 6, 'one line per run in each chart');
    for (const entry of [first, second]) {
      const shown = page.metrics.find((metric) => metric.run === entry.workflowId && metric.metric === 'evaluate.auc');
      assert.equal(Number(shown?.value), entry.outputs.evaluate.metrics['auc']);
      assert.equal(shown?.text, formatMetric(entry.outputs.evaluate.metrics['auc'] ?? NaN));
    }
  });
});
