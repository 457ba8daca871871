import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';
import { writeSyntheticDataset, zipFolder } from '../../activities/data/synthetic.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { resolveTemporalBinary } from '../../client/servers/binaries.ts';
import { startCliWorker, type CliWorker } from '../helpers/cli-worker.ts';
import { startMlflowServer, type MlflowServer } from '../helpers/mlflow-server.ts';
import { historyTextWithPayloads } from '../helpers/history-json.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const exec = promisify(execFile);

const SWEEP = 'test/fixtures/tracking/tracked-sweep.yaml';
const DATA = 'test/fixtures/tracking/tracked-data.yaml';
const TRAIN = 'test/fixtures/tracking/tracked-train.yaml';
const EXPERIMENT = 'mlp-tracking-test';
const TEMPORAL_UI = 'http://temporal-ui.test:8233';

const tagsSchema = z.array(z.object({ key: z.string(), value: z.string() })).default([]);
const runSchema = z.object({
  info: z.object({ run_id: z.string(), status: z.string(), artifact_uri: z.string() }),
  data: z.object({ params: tagsSchema, tags: tagsSchema, metrics: z.array(z.object({ key: z.string(), value: z.number() })).default([]) }),
});
type MlflowRun = z.infer<typeof runSchema>;
const tag = (run: MlflowRun, key: string) => run.data.tags.find((entry) => entry.key === key)?.value;

/**
 * `tracking.mlflow` against a real MLflow server (the pinned one deploy/tools/install-mlflow.sh
 * installs, SQLite backend, local artifacts behind its proxy): a tiny run of the demo's plan (a
 * two-trial sweep, evaluate, publish) is checked through MLflow's REST API only, and a cancelled
 * run ends its MLflow run as KILLED; then the server is stopped and a run still succeeds with a
 * recorded warning, unless tracking is required.
 */
describe('MLflow tracking (tracking.mlflow) against a real MLflow server', function () {
  this.timeout(600_000);
  let servers: TestServers;
  let mlflow: MlflowServer;
  let cli: CliWorker;
  let store: ObjectStore;
  let dataset = '';
  const prefix = `mlflow-${randomUUID().slice(0, 8)}`;
  // Sent as a bearer token (this server has no auth, so it ignores it): must show up nowhere.
  const token = `mlflow-token-${randomUUID()}`;

  before(async () => {
    [servers, mlflow] = await Promise.all([startTestServers({ bucketPrefix: 'mlflow' }), startMlflowServer()]);
    store = new ObjectStore(servers.storage);
    const data = join(servers.dir, 'synthetic');
    await writeSyntheticDataset({ dir: data, seed: 5, size: 48, counts: { train: { NORMAL: 24, PNEUMONIA: 24 }, test: { NORMAL: 8, PNEUMONIA: 8 } } });
    const zip = join(servers.dir, 'tiny.zip');
    await zipFolder(data, zip);
    dataset = pathToFileURL(zip).href;
    cli = startCliWorker(servers, {
      prefix,
      env: { MLFLOW_TRACKING_URI: mlflow.uri, MLFLOW_TRACKING_TOKEN: token, MLP_TEMPORAL_UI_URL: TEMPORAL_UI, MLP_CODE_VERSION: 'test-commit-1', MLP_LOG_LEVEL: 'info' },
    });
  });

  after(async () => {
    await cli?.stop();
    await mlflow?.remove();
    await servers?.stop();
  });

  async function api<T>(schema: z.ZodType<T>, method: 'GET' | 'POST', endpoint: string, body: Record<string, unknown>): Promise<T> {
    const url = method === 'GET' ? `${mlflow.uri}/api/2.0/mlflow/${endpoint}?${new URLSearchParams(Object.entries(body).map(([key, value]): [string, string] => [key, String(value)]))}` : `${mlflow.uri}/api/2.0/mlflow/${endpoint}`;
    const response = await fetch(url, { method, ...(method === 'POST' ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
    assert.ok(response.ok, `${endpoint}: ${response.status} ${await response.clone().text()}`);
    return schema.parse(await response.json());
  }

  async function searchRuns(filter: string): Promise<MlflowRun[]> {
    const { experiment } = await api(z.object({ experiment: z.object({ experiment_id: z.string() }) }), 'GET', 'experiments/get-by-name', { experiment_name: EXPERIMENT });
    const found = await api(z.object({ runs: z.array(runSchema).default([]) }), 'POST', 'runs/search', { experiment_ids: [experiment.experiment_id], filter, max_results: 100 });
    return found.runs;
  }

  async function metricSteps(runId: string, key: string): Promise<number[]> {
    const history = await api(z.object({ metrics: z.array(z.object({ step: z.coerce.number() })).default([]) }), 'GET', 'metrics/get-history', { run_id: runId, metric_key: key });
    return history.metrics.map((point) => point.step).sort((a, b) => a - b);
  }

  /** An artifact as MLflow's own download endpoint serves it. */
  async function artifact(runId: string, path: string): Promise<Buffer> {
    const response = await fetch(`${mlflow.uri}/get-artifact?${new URLSearchParams({ run_uuid: runId, path })}`);
    assert.ok(response.ok, `artifact ${path}: ${response.status}`);
    return Buffer.from(await response.arrayBuffer());
  }

  const outputsSchema = z.object({
    workflowId: z.string(),
    status: z.string(),
    outputs: z.object({
      train: z.object({ trials: z.array(z.object({ index: z.number(), matrix: z.record(z.string(), z.unknown()) }).loose()) }).loose(),
      evaluate: z.object({ metrics: z.record(z.string(), z.number()), threshold: z.number(), report: z.string(), plots: z.record(z.string(), z.string()) }).loose(),
      publish: z.object({ version: z.number(), promoted: z.literal(true), prefix: z.string() }).loose(),
    }),
  });

  it('logs a run: tags, params, nested trial runs with one valAuc point per epoch, evaluate metrics, artifacts byte-identical, a model version with the production alias', async () => {
    const result = await cli.mlp('run', SWEEP, '--set', `dataset=${dataset}`, '--set', 'epochs=2', '--wait', '--json');
    assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}\n(worker log: ${cli.logFile})`);
    const run = outputsSchema.parse(JSON.parse(result.stdout));
    assert.equal(run.status, 'completed');

    const found = await searchRuns(`tags.\`mlp.workflowId\` = '${run.workflowId}'`);
    const parents = found.filter((candidate) => tag(candidate, 'mlflow.parentRunId') === undefined);
    assert.equal(parents.length, 1, 'one MLflow run for the pipeline run');
    const parent = parents[0] as MlflowRun;
    assert.equal(parent.info.status, 'FINISHED');
    assert.equal(tag(parent, 'mlp.pipeline'), 'tracked-sweep');
    assert.equal(tag(parent, 'mlp.codeVersion'), 'test-commit-1');
    assert.match(tag(parent, 'mlp.temporalUrl') ?? '', new RegExp(`^${TEMPORAL_UI}/namespaces/[^/]+/workflows/${encodeURIComponent(run.workflowId)}/`));
    assert.deepEqual(Object.fromEntries(parent.data.params.map((param) => [param.key, param.value])), { dataset, epochs: '2' });

    // The sweep's trials: nested runs with their matrix values as params and one point per epoch.
    const trials = found.filter((candidate) => tag(candidate, 'mlflow.parentRunId') === parent.info.run_id);
    assert.equal(trials.length, run.outputs.train.trials.length);
    for (const trial of run.outputs.train.trials) {
      const nested = trials.find((candidate) => tag(candidate, 'mlp.trial') === `train#${trial.index}`);
      assert.ok(nested, `a nested run for trial ${trial.index}`);
      assert.equal(nested.info.status, 'FINISHED');
      assert.deepEqual(nested.data.params.map((param) => [param.key, param.value]), [['learningRate', String(trial.matrix.learningRate)]]);
      assert.deepEqual(await metricSteps(nested.info.run_id, 'train.valAuc'), [1, 2], `trial ${trial.index}: one valAuc point per epoch`);
    }

    // Evaluate's headline metrics equal the run's outputs.
    const logged = Object.fromEntries(parent.data.metrics.map((metric) => [metric.key, metric.value]));
    for (const [name, value] of Object.entries(run.outputs.evaluate.metrics)) assert.equal(logged[`evaluate.${name}`], value, `evaluate.${name}`);
    assert.equal(logged['evaluate.threshold'], run.outputs.evaluate.threshold);

    // The report and the plots, downloaded back from MLflow, are the bytes the run stored.
    assert.deepEqual(await artifact(parent.info.run_id, 'evaluate/report.md'), await store.get(run.outputs.evaluate.report));
    assert.ok(Object.keys(run.outputs.evaluate.plots).length >= 3);
    for (const [name, key] of Object.entries(run.outputs.evaluate.plots)) {
      assert.deepEqual(await artifact(parent.info.run_id, `evaluate/plots/${name}.png`), await store.get(key), `plot ${name}`);
    }

    // Publish: a registered model version of this run, pointing at the published model, aliased production.
    const alias = await api(z.object({ model_version: z.object({ version: z.string(), source: z.string(), run_id: z.string() }) }), 'GET', 'registered-models/alias', { name: 'tracked-sweep', alias: 'production' });
    assert.equal(alias.model_version.run_id, parent.info.run_id);
    assert.equal(alias.model_version.source, `s3://${store.bucket}/${run.outputs.publish.prefix}`);

    // The token went to MLflow in a header only: not in the history, not in the worker log.
    const temporal = await resolveTemporalBinary();
    const { stdout: exported } = await exec(temporal.path, ['workflow', 'show', '-w', run.workflowId, '--address', servers.temporalAddress, '--namespace', servers.namespace, '--output', 'json'], { maxBuffer: 64 * 1024 * 1024 });
    const history = historyTextWithPayloads(exported);
    assert.ok(history.includes(parent.info.run_id), 'the exported history is the tracked run’s');
    // Few events: start, one per step with something to log (the sweep, evaluate, publish), end.
    const tracked = [...history.matchAll(/"activityId":\s*"(mlflow\/[^"]+)"/g)].map((match) => match[1]);
    assert.deepEqual([...tracked].sort(), ['mlflow/end', 'mlflow/start', 'mlflow/step/evaluate', 'mlflow/step/publish', 'mlflow/step/train']);
    console.log(`      measured: ${tracked.length} tracking activities (${tracked.length * 3} history events) in a ${JSON.parse(exported).events.length}-event history`);
    assert.ok(!history.includes(token), 'the exported history holds the MLflow token');
    assert.ok(!(await readFile(cli.logFile, 'utf8')).includes(token), 'the worker log holds the MLflow token');
  });

  it('fills in the epochs of a train step served from the cache (the activity never ran in this run)', async () => {
    const cached = join(servers.dir, 'tracked-train-cached.yaml');
    const text = (await readFile(TRAIN, 'utf8')).replace('cache: false', 'cache: true').replace('experiment: mlp-tracking-faults', `experiment: ${EXPERIMENT}`);
    await writeFile(cached, text);
    const runIds: string[] = [];
    for (const runKey of ['first', 'second']) {
      const result = await cli.mlp('run', cached, '--set', `dataset=${dataset}`, '--set', 'epochs=2', '--run-key', runKey, '--wait', '--json');
      assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
      runIds.push(z.object({ workflowId: z.string() }).parse(JSON.parse(result.stdout)).workflowId);
    }
    const shown = z.object({ steps: z.array(z.object({ id: z.string(), cached: z.boolean() }).loose()) }).parse(JSON.parse((await cli.mlp('show', runIds[1] ?? '', '--json')).stdout));
    assert.equal(shown.steps.find((step) => step.id === 'train')?.cached, true, 'the second run took train from the cache');
    for (const workflowId of runIds) {
      const [run] = await searchRuns(`tags.\`mlp.workflowId\` = '${workflowId}'`);
      assert.ok(run, `an MLflow run for ${workflowId}`);
      assert.deepEqual(await metricSteps(run.info.run_id, 'train.valAuc'), [1, 2], `${workflowId}: one valAuc point per epoch`);
    }
  });

  it('a cancelled run (mlp cancel) ends as cancelled and its MLflow run as KILLED, with an end time', async () => {
    // One noop step that would sleep for minutes, heartbeating often: it is running until cancelled.
    const file = join(servers.dir, 'tracked-cancel.yaml');
    await writeFile(
      file,
      ['apiVersion: mlp/v1', 'name: tracked-cancel', 'tracking:', '  mlflow:', `    experiment: ${EXPERIMENT}`, 'steps:', '  - id: wait', '    uses: noop', '    cache: false', '    heartbeatTimeout: 5s', '    with: { sleepMs: 600000 }', ''].join('\n'),
    );
    const started = await cli.mlp('run', file, '--json');
    assert.equal(started.code, 0, `${started.stderr}\n${started.stdout}`);
    const { workflowId } = z.object({ workflowId: z.string() }).parse(JSON.parse(started.stdout));
    const viewSchema = z.object({ state: z.string(), steps: z.array(z.object({ id: z.string(), state: z.string() }).loose()), tracking: z.object({ runId: z.string() }).loose().optional() }).loose();
    const show = async () => viewSchema.parse(JSON.parse((await cli.mlp('show', workflowId, '--json')).stdout));
    const mlflowRunId = await waitUntil('the tracked step to run', async () => {
      const view = await show();
      return view.steps[0]?.state === 'running' ? view.tracking?.runId : undefined;
    });

    const cancelled = await cli.mlp('cancel', workflowId, '--json');
    assert.equal(cancelled.code, 0, `${cancelled.stderr}\n${cancelled.stdout}`);
    assert.equal(z.object({ status: z.string() }).parse(JSON.parse(cancelled.stdout)).status, 'CANCELLED');
    const view = await show();
    assert.equal(view.state, 'cancelled');
    assert.equal(view.steps[0]?.state, 'cancelled');

    // The workflow closed only after the end activity answered: the status is there already.
    const { run } = await api(z.object({ run: z.object({ info: z.object({ status: z.string(), start_time: z.coerce.number(), end_time: z.coerce.number().optional() }) }) }), 'GET', 'runs/get', { run_id: mlflowRunId });
    assert.equal(run.info.status, 'KILLED');
    assert.ok(run.info.end_time !== undefined && run.info.end_time >= run.info.start_time, `an end time at or after the start: ${JSON.stringify(run.info)}`);
  });

  it('with the server stopped: the run succeeds with a recorded warning; with required: true it fails naming the tracking URI', async () => {
    await mlflow.stop();
    const result = await cli.mlp('run', DATA, '--set', `dataset=${dataset}`, '--wait', '--json');
    assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
    const { workflowId } = z.object({ workflowId: z.string() }).parse(JSON.parse(result.stdout));
    const shown = await cli.mlp('show', workflowId, '--json');
    const view = z.object({ state: z.string(), tracking: z.object({ warnings: z.array(z.string()) }) }).parse(JSON.parse(shown.stdout));
    assert.equal(view.state, 'succeeded');
    assert.equal(view.tracking.warnings.length, 1, JSON.stringify(view.tracking));
    assert.ok(view.tracking.warnings[0]?.includes(mlflow.uri), `the warning names the server: ${view.tracking.warnings[0]}`);

    const required = join(servers.dir, 'tracked-data-required.yaml');
    await writeFile(required, (await readFile(DATA, 'utf8')).replace('experiment: mlp-tracking-test', 'experiment: mlp-tracking-test\n    required: true'));
    const failed = await cli.mlp('run', required, '--set', `dataset=${dataset}`, '--wait', '--json');
    assert.notEqual(failed.code, 0, 'the run failed');
    assert.ok(`${failed.stdout}${failed.stderr}`.includes(mlflow.uri), `the failure names the tracking URI:\n${failed.stdout}\n${failed.stderr}`);
    assert.ok(!`${failed.stdout}${failed.stderr}`.includes(token));
  });
});
