import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { z } from 'zod';
import { ObjectStore } from '../../activities/object-store.ts';
import { createModelRegistryActivities, type ModelDescription, type ModelSummary, type PromoteResult } from '../../activities/registry/index.ts';
import { publish, type PublishOptions } from '../../activities/registry/publish-model.ts';
import { createPublishActivity } from '../../activities/steps/publish.ts';
import { AliasSchema, ModelDescriptionSchema, ModelSummarySchema, PromoteResultSchema, VersionRecordSchema, registryKeys } from '../../common/model-registry.ts';
import { readAlias } from '../../activities/registry/registry.ts';
import { saveModelToStore } from '../../activities/model-io/layers-model-io.ts';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { publishStep, type PublishInput } from '../../common/step-kinds/publish.ts';
import { workflowTaskQueue } from '../../common/task-queues.ts';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectEngine } from '../../activities/engine/engine.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

const exec = promisify(execFile);
const MODEL = 'runs/wf-train/train/model';
const SHA = 'a'.repeat(64);

function options(owner: string): PublishOptions {
  return { owner, lineage: { pipeline: 'p', workflowId: owner, runId: 'r1', stepId: 'publish', seed: 7, engine: 'wasm', codeVersion: 'abc123', sourceModel: MODEL } };
}

function input(name: string, auc: number, promote?: Record<string, unknown>): PublishInput {
  return publishStep.input.parse({ name, model: MODEL, metrics: { auc, accuracy: 0.9 }, datasetHash: SHA, manifestHash: SHA, ...(promote ? { promote } : {}) });
}

describe('model registry on the real S3 server and Temporal dev server', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let store: ObjectStore;
  let workers: PipelineWorkers;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'registry' });
    store = new ObjectStore(servers.storage);
    await selectEngine('wasm', { strict: true });
    const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 2, activation: 'softmax' })] });
    await saveModelToStore(store, MODEL, model);
    model.dispose();
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'registry',
      activities: {
        ...createModelRegistryActivities({ store, scratchDir: servers.dir, codeVersion: 'test-commit' }),
        ...createPublishActivity({ store, scratchDir: servers.dir, codeVersion: 'test-commit' }),
      },
    });
  });

  after(async () => {
    await workers?.stop();
    await servers?.stop();
  });

  it('publishes versions 1 and 2 with the model files and lineage, and moves latest to 2', async () => {
    const first = await publish(store, input('twice', 0.9), options('run-a'));
    const calibration = { method: 'platt', a: 0.96, b: -1.34 } as const;
    const second = await publish(store, { ...input('twice', 0.91), threshold: 0.787, calibration }, options('run-b'));
    assert.deepEqual([first.version, second.version], [1, 2]);
    assert.equal(second.prefix, 'models/twice/2/');
    assert.deepEqual((await store.list('models/twice/2/model/')).sort(), ['models/twice/2/model/model.json', 'models/twice/2/model/weights.bin']);
    const record = VersionRecordSchema.parse(await store.getJson(registryKeys.record('twice', 2)));
    assert.deepEqual(record.lineage, { ...options('run-b').lineage });
    assert.deepEqual(record.metrics, { auc: 0.91, accuracy: 0.9 });
    // The decision rule travels with the version: calibrate, then compare with the threshold.
    assert.deepEqual([record.threshold, record.calibration], [0.787, calibration]);
    const firstRecord = VersionRecordSchema.parse(await store.getJson(registryKeys.record('twice', 1)));
    assert.deepEqual([firstRecord.threshold, firstRecord.calibration], [undefined, undefined]);
    assert.equal((await readAlias(store, 'twice', 'latest'))?.version, 2);
    assert.equal(await readAlias(store, 'twice', 'production'), undefined, 'no gate: registered, not promoted');
    assert.match(second.reason, /no promote gate/);
  });

  it('keeps production on version 1 when version 2 fails the gate, and says why', async () => {
    const gate = { metric: 'auc', min: 0.95, mustBeatProduction: true };
    const first = await publish(store, input('gated', 0.97, gate), options('run-1'));
    assert.equal(first.promoted, true);
    assert.equal(first.reason, 'promoted: auc 0.9700 ≥ 0.9500, no production version yet');

    const below = await publish(store, input('gated', 0.93, gate), options('run-2'));
    assert.deepEqual([below.version, below.promoted, below.reason], [2, false, 'not promoted: auc 0.9300 is below the gate\'s minimum 0.9500']);
    const notBetter = await publish(store, input('gated', 0.96, gate), options('run-3'));
    assert.deepEqual([notBetter.version, notBetter.promoted, notBetter.reason], [3, false, 'not promoted: auc 0.9600 does not beat production version 1 (0.9700)']);

    const production = AliasSchema.parse(await store.getJson(registryKeys.alias('gated', 'production')));
    assert.equal(production.version, 1);
    assert.equal((await readAlias(store, 'gated', 'latest'))?.version, 3);
    assert.equal(VersionRecordSchema.parse(await store.getJson(registryKeys.record('gated', 2))).decision.promoted, false);
  });

  it('never gives two concurrent publishes the same version, and a retried publish keeps its version', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => publish(store, input('race', 0.9), options(`racer-${i}`))));
    assert.deepEqual(results.map((r) => r.version).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
    const owners = await Promise.all(results.map(async (r) => VersionRecordSchema.parse(await store.getJson(registryKeys.record('race', r.version))).lineage.workflowId));
    assert.deepEqual(new Set(owners).size, 8);

    const retried = await publish(store, input('race', 0.9), options('racer-3'));
    assert.equal(retried.version, results[3]?.version);
    assert.equal((await store.list(registryKeys.claims('race'))).length, 8, 'no version burnt by the retry');
  });

  it('runs publish as a pipeline step and mlp models list/show/promote as workflows', async () => {
    const spec = testPipeline('publish-wf', [
      testStep('publish', 'publish', { with: { name: 'wf-model', model: MODEL, metrics: { auc: 0.8 }, seed: 3, engine: 'wasm', promote: { metric: 'auc', min: 0.9 } } }),
    ]);
    const workflowId = `publish-wf-${randomUUID().slice(0, 8)}`;
    const handle = await workers.client.workflow.start('runPipeline', pipelineStartOptions(spec, { workflowId, taskQueuePrefix: workers.taskQueuePrefix }));
    const outputs = z.record(z.string(), z.record(z.string(), z.unknown())).parse(await handle.result());
    assert.deepEqual(outputs.publish, { version: 1, prefix: 'models/wf-model/1/', promoted: false, reason: "not promoted: auc 0.8000 is below the gate's minimum 0.9000" });
    const record = VersionRecordSchema.parse(await store.getJson(registryKeys.record('wf-model', 1)));
    assert.equal(record.lineage.workflowId, workflowId);
    assert.equal(record.lineage.runId, handle.firstExecutionRunId);
    assert.equal(record.lineage.codeVersion, 'test-commit');
    await publish(store, input('wf-model', 0.95), options('run-x'));

    const taskQueue = workflowTaskQueue(workers.taskQueuePrefix);
    const execute = <T>(workflow: string, args: unknown[]): Promise<T> =>
      workers.client.workflow.execute(workflow, { taskQueue, workflowId: `${workflow}-${randomUUID().slice(0, 8)}`, args });

    const models = await execute<ModelSummary[]>('listModels', []);
    assert.deepEqual(models.find((m) => m.name === 'wf-model'), { name: 'wf-model', versions: 2, latest: 2, production: null });
    const promoted = await execute<PromoteResult>('promoteModel', [{ name: 'wf-model', version: 1, reason: 'promoted by hand' }]);
    assert.deepEqual(promoted, { name: 'wf-model', version: 1, previousVersion: null, reason: 'promoted by hand' });
    const shown = await execute<ModelDescription>('describeModel', [{ name: 'wf-model', version: 1 }]);
    assert.equal(shown.aliases.production?.version, 1);
    assert.deepEqual(shown.versions.map((v) => v.version), [1, 2]);
    assert.equal(shown.record?.lineage.seed, 3);

    await assert.rejects(execute('promoteModel', [{ name: 'wf-model', version: 9, reason: 'typo' }]), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError && error.cause instanceof ActivityFailure);
      const failure = error.cause.cause;
      assert.ok(failure instanceof ApplicationFailure);
      assert.equal(failure.type, 'ModelRegistryError');
      assert.match(failure.message, /Model 'wf-model' has no version 9 in the registry/);
      return true;
    });
  });

  it('mlp models list, show and promote print JSON from the registry workflows and fail clearly on an unknown version', async () => {
    await publish(store, input('cli-model', 0.9), options('cli-run-1'));
    await publish(store, input('cli-model', 0.92), options('cli-run-2'));
    const mlp = async (...args: string[]) => {
      const connection = ['--address', servers.temporalAddress, '--namespace', servers.namespace, '--task-queue-prefix', workers.taskQueuePrefix];
      try {
        const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', 'models', ...args, ...connection]);
        return { code: 0, stdout, stderr };
      } catch (error) {
        return z.object({ code: z.number(), stdout: z.string(), stderr: z.string() }).parse(error);
      }
    };
    const listed = await mlp('list', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(z.array(ModelSummarySchema).parse(JSON.parse(listed.stdout)).find((m) => m.name === 'cli-model'), { name: 'cli-model', versions: 2, latest: 2, production: null });

    const promoted = await mlp('promote', 'cli-model', '2', '--reason', 'reviewed the report', '--json');
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.deepEqual(PromoteResultSchema.parse(JSON.parse(promoted.stdout)), { name: 'cli-model', version: 2, previousVersion: null, reason: 'reviewed the report' });

    const shown = await mlp('show', 'cli-model', '2', '--json');
    const description = ModelDescriptionSchema.parse(JSON.parse(shown.stdout));
    assert.equal(description.aliases.production?.version, 2);
    assert.equal(description.record?.lineage.workflowId, 'cli-run-2');
    const human = await mlp('show', 'cli-model');
    assert.match(human.stdout, /production: v2 \(.*: reviewed the report\)/);

    const missing = await mlp('promote', 'cli-model', '7');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /error: run failed: ModelRegistryError: Model 'cli-model' has no version 7 in the registry/);
  });
});
