import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { writeSyntheticDataset, zipFolder } from '../../activities/data/synthetic.ts';
import { MlflowClient } from '../../activities/tracking/mlflow-client.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { checkpointPrefix } from '../../activities/training/checkpoint-store.ts';
import { loadPipelineFile } from '../../client/pipelines/pipeline-file.ts';
import { submitPipeline } from '../../client/pipelines/pipeline-submit.ts';
import { spawnWorkerProcess } from '../../client/workers/worker-process.ts';
import { startMlflowServer, type MlflowServer } from '../helpers/mlflow-server.ts';
import { killNow } from '../helpers/kill-process.ts';
import { startTestServers, type TestServers, testWorkerEnv } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const PIPELINE = 'test/fixtures/tracking/tracked-train.yaml';

/**
 * A tracked run whose activities worker is SIGKILLed after the train step logged epoch 1 to
 * MLflow, with the step's checkpoints removed so the retry trains epoch 1 again: MLflow still
 * holds exactly one point per epoch (in the serial part of npm test: it kills processes).
 */
describe('MLflow tracking across a killed worker: a retried epoch adds no second point', function () {
  this.timeout(300_000);
  let servers: TestServers;
  let mlflow: MlflowServer;
  let connection: Connection;
  let client: Client;
  const children: ChildProcess[] = [];
  const prefix = `mlflow-faults-${randomUUID().slice(0, 8)}`;
  let dataset = '';

  function startWorker(role: 'workflows' | 'activities'): ChildProcess {
    const child = spawnWorkerProcess({
      logFile: join(servers.dir, `worker-${role}-${children.length}.log`),
      env: testWorkerEnv(servers, { prefix, scratchDir: join(servers.dir, `scratch-${children.length}`) }, { MLP_WORKER_ROLE: role, MLFLOW_TRACKING_URI: mlflow.uri }),
    });
    children.push(child);
    return child;
  }

  before(async () => {
    [servers, mlflow] = await Promise.all([startTestServers({ bucketPrefix: 'mlflow-faults' }), startMlflowServer()]);
    const data = join(servers.dir, 'synthetic');
    await writeSyntheticDataset({ dir: data, seed: 9, size: 48, counts: { train: { NORMAL: 32, PNEUMONIA: 32 }, test: { NORMAL: 4, PNEUMONIA: 4 } } });
    const zip = join(servers.dir, 'tiny.zip');
    await zipFolder(data, zip);
    dataset = pathToFileURL(zip).href;
    connection = await Connection.connect({ address: servers.temporalAddress });
    client = new Client({ connection, namespace: servers.namespace });
  });

  after(async () => {
    for (const child of children) await killNow(child);
    await connection?.close();
    await mlflow?.remove();
    await servers?.stop();
  });

  it('logs epochs 1, 2, 3 once each although epoch 1 was trained (and logged) twice', async () => {
    startWorker('workflows');
    const activities = startWorker('activities');
    const { resolved } = await loadPipelineFile(PIPELINE, [`dataset=${dataset}`, 'epochs=3']);
    const { handle, workflowId } = await submitPipeline(client, resolved, { runKey: randomUUID().slice(0, 8), taskQueuePrefix: prefix });

    const mlflowApi = new MlflowClient({ uri: mlflow.uri });
    const runId = await waitUntil(
      `the MLflow run of ${workflowId}`,
      async () => {
        const experiment = await mlflowApi.ensureExperiment('mlp-tracking-faults');
        return (await mlflowApi.searchRuns(experiment, `tags.\`mlp.workflowId\` = '${workflowId}'`))[0]?.info.run_id;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const steps = async (key: string) => (await mlflowApi.metricHistory(runId, key)).map((point) => Number(point.step)).sort((a, b) => a - b);
    await waitUntil(`epoch 1 of ${workflowId} in MLflow`, async () => ((await steps('train.valAuc')).includes(1) ? true : undefined), { timeoutMs: 180_000, intervalMs: 100 });
    await killNow(activities);
    // Without its checkpoints the retry trains from epoch 1 again, which MLflow already has.
    const store = new ObjectStore(servers.storage);
    for (const key of await store.list(`${checkpointPrefix(workflowId, 'train')}/`)) await store.remove(key);
    startWorker('activities');

    const outputs = (await handle.result()) as Record<string, Record<string, unknown>>;
    assert.ok(outputs.train, 'the run finished its train step');
    const history = await handle.fetchHistory();
    const trainAttempts = (history.events ?? []).flatMap((event) => (event.activityTaskStartedEventAttributes ? [event.activityTaskStartedEventAttributes.attempt ?? 1] : []));
    assert.ok(Math.max(...trainAttempts) >= 2, 'a later attempt finished the train step');
    assert.equal(outputs.train.resumedFromEpoch ?? 0, 0, 'the retry started over from epoch 1');
    assert.deepEqual(await steps('train.valAuc'), [1, 2, 3], 'one valAuc point per epoch');
    assert.deepEqual(await steps('train.loss'), [1, 2, 3], 'one loss point per epoch');
    assert.equal((await mlflowApi.getRun(runId)).info.status, 'FINISHED');
  });
});
