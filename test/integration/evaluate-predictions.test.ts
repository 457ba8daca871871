import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { z } from 'zod';
import { EvaluationError, ModelRegistryError } from '../../common/errors.ts';
import { VersionRecordSchema, registryKeys } from '../../common/model-registry.ts';
import type { StepContext } from '../../common/step-activities.ts';
import { evaluateStep, type EvaluateInput, type EvaluateOutput } from '../../common/step-kinds/evaluate.ts';
import { publishStep } from '../../common/step-kinds/publish.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { evaluate } from '../../activities/evaluation/evaluate.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { publish } from '../../activities/registry/publish-model.ts';
import { readAlias } from '../../activities/registry/registry.ts';
import { createEvaluateActivity } from '../../activities/steps/evaluate.ts';
import { createPublishActivity } from '../../activities/steps/publish.ts';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { trainTinyClassifier, writeSplit } from '../helpers/evaluation-fixtures.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

const ImagePredictionsSchema = z.object({
  test: z.array(z.object({ path: z.string(), class: z.string(), probability: z.number() })),
  validation: z.array(z.object({ path: z.string(), class: z.string(), probability: z.number() })),
});
const RowPredictionsSchema = z.object({
  test: z.array(z.object({ id: z.string(), class: z.string(), probability: z.number(), calibratedProbability: z.number(), predicted: z.string() })),
  validation: z.array(z.object({ id: z.string() })),
});
const MetricsJsonSchema = z.object({ predictions: z.string(), valPredictions: z.string(), confusionMatrix: z.array(z.array(z.number())) });

function context(workflowId: string, stepId = 'evaluate'): StepContext {
  return { pipeline: 'evalcsv-test', workflowId, stepId, runPrefix: `runs/${workflowId}/${stepId}/` };
}

/** A predictions CSV of the given rows; String(number) reads back as the same double. */
function csvOf(rows: readonly { id: string; label: string; score: number }[]): string {
  return ['id,label,score', ...rows.map((row) => `${row.id},${row.label},${String(row.score)}`)].join('\n') + '\n';
}

/** What an evaluation decided and measured, without the keys of its artifacts. */
function verdict(output: EvaluateOutput) {
  const { metrics, threshold, thresholdMethod, thresholdScale, thresholdInterval, thresholdDecision, calibration, calibrationMetrics, estimatedPrevalence, validationPrevalence, testSize } = output;
  return { metrics, threshold, thresholdMethod, thresholdScale, thresholdInterval, thresholdDecision, calibration, calibrationMetrics, estimatedPrevalence, validationPrevalence, testSize };
}

describe('evaluate on predictions CSVs, and publish of any artifact, on the real servers', function () {
  this.timeout(180_000);
  let servers: TestServers;
  let store: ObjectStore;
  let workers: PipelineWorkers;
  const model = 'runs/wf-train/train/model';
  // What a run step's outputs would be: content-addressed keys of two CSVs and a model folder.
  const predictionsKey = 'artifacts/test-predictions/predictions.csv';
  const valPredictionsKey = 'artifacts/val-predictions/val-predictions.csv';
  let fromModel: EvaluateOutput;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'evalcsv' });
    store = new ObjectStore(servers.storage);
    await selectEngine('wasm', { strict: true });
    const train = await writeSplit(store, 'train', 40, 'c');
    const val = await writeSplit(store, 'val', 15, 'c');
    const test = await writeSplit(store, 'test', 25, 'c');
    await trainTinyClassifier(store, train.manifest, model);
    // The model's own evaluation; its predictions become the CSVs a user's model would write.
    const modelInput: EvaluateInput = evaluateStep.input.parse({ model, testManifest: test.key, valManifest: val.key, classes: ['NORMAL', 'PNEUMONIA'], threshold: 'auto', calibration: 'platt' });
    fromModel = await evaluate(store, modelInput, context('wf-model'));
    const scored = ImagePredictionsSchema.parse(await store.getJson(fromModel.predictions));
    const rows = (list: typeof scored.test) => list.map((p) => ({ id: p.path, label: p.class, score: p.probability }));
    await store.put(predictionsKey, csvOf(rows(scored.test)), 'text/csv');
    await store.put(valPredictionsKey, csvOf(rows(scored.validation)), 'text/csv');
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'evalcsv',
      activities: {
        ...createEvaluateActivity({ store, scratchDir: servers.dir, codeVersion: 'test-commit' }),
        ...createPublishActivity({ store, scratchDir: servers.dir, codeVersion: 'test-commit' }),
      },
    });
  });

  after(async () => {
    await workers?.stop();
    await servers?.stop();
  });

  it('scores CSVs of the same scores exactly as the model path scores the model: auto threshold, Platt calibration, metrics', async () => {
    const ctx = context('wf-csv');
    const input = evaluateStep.input.parse({ predictions: predictionsKey, valPredictions: valPredictionsKey, threshold: 'auto', calibration: 'platt' });
    const output = await evaluate(store, input, ctx);
    assert.deepEqual(evaluateStep.output.parse(output), output);
    assert.deepEqual(verdict(output), verdict(fromModel));
    assert.ok(output.thresholdDecision, 'auto reports its bootstrap decision');
    assert.equal(output.thresholdMethod, output.thresholdDecision.moved ? 'youden' : 'default');
    assert.equal(output.thresholdScale, 'raw');
    assert.equal(output.calibration.method, 'platt');
    assert.equal(typeof output.estimatedPrevalence, 'number');

    // Every plot but the sample grid, which needs images.
    assert.deepEqual(Object.keys(output.plots).sort(), ['confusion', 'curves', 'reliability', 'roc']);
    for (const key of Object.values(output.plots)) assert.equal((await sharp(await store.get(key)).metadata()).format, 'png', key);
    assert.equal(await store.exists(`${ctx.runPrefix}plots/samples.png`), false);

    const metrics = MetricsJsonSchema.parse(await store.getJson(output.metricsKey));
    assert.deepEqual([metrics.predictions, metrics.valPredictions], [predictionsKey, valPredictionsKey]);
    assert.deepEqual(metrics.confusionMatrix, MetricsJsonSchema.pick({ confusionMatrix: true }).parse(await store.getJson(fromModel.metricsKey)).confusionMatrix);
    const predictions = RowPredictionsSchema.parse(await store.getJson(output.predictions));
    assert.equal(predictions.test.length, 50);
    assert.equal(predictions.validation.length, 30);
    for (const row of predictions.test) assert.equal(row.predicted, row.probability >= output.threshold ? 'PNEUMONIA' : 'NORMAL', row.id);

    const report = (await store.get(output.report)).toString('utf8');
    assert.match(report, new RegExp(`predictions \`${predictionsKey}\` \\(50 rows\\), validation predictions \`${valPredictionsKey}\``));
    assert.match(report, /No sample-images grid: a predictions file carries scores, not images/);
    assert.match(report, /1000 bootstrap resamples of the validation rows/);
    assert.doesNotMatch(report, /Sample test images/);
  });

  it('fails with the file and line of a malformed row, and writes nothing', async () => {
    const lines = (await store.get(valPredictionsKey)).toString('utf8').split('\n');
    const broken = 'artifacts/broken/val-predictions.csv';
    await store.put(broken, [...lines.slice(0, 4), lines[4]?.replace(/,[^,]*$/, ',1.7'), ...lines.slice(5)].join('\n'), 'text/csv');
    const ctx = context('wf-csv-broken');
    const input = evaluateStep.input.parse({ predictions: predictionsKey, valPredictions: broken, threshold: 'auto' });
    await assert.rejects(evaluate(store, input, ctx), (error: unknown) => {
      assert.ok(error instanceof EvaluationError);
      assert.equal(error.message, `Read predictions failed: ${broken} line 5: score 1.7 is outside [0, 1] (expected the probability of the positive class)`);
      return true;
    });
    assert.deepEqual(await store.list(ctx.runPrefix), []);
  });

  it('runs evaluate on CSVs and publishes a run step\'s model folder as format other through the promotion gate, as pipeline steps', async () => {
    const folder = 'artifacts/user-model/';
    const files = { 'model.pkl': Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37) % 256)), 'config/params.json': Buffer.from('{"C": 1.0}\n') };
    for (const [path, body] of Object.entries(files)) await store.put(`${folder}${path}`, body);
    const code = `sha256:${createHash('sha256').update('user code').digest('hex')}`;
    const spec = testPipeline('evalcsv-publish', [
      testStep('evaluate', 'evaluate', { with: { predictions: predictionsKey, valPredictions: valPredictionsKey, threshold: 'auto', calibration: 'platt' } }),
      testStep('publish', 'publish', {
        needs: ['evaluate'],
        with: {
          name: 'user-model',
          model: folder,
          format: 'other',
          code,
          metrics: '${{ steps.evaluate.outputs.metrics }}',
          metricsKey: '${{ steps.evaluate.outputs.metricsKey }}',
          report: '${{ steps.evaluate.outputs.report }}',
          threshold: '${{ steps.evaluate.outputs.threshold }}',
          calibration: '${{ steps.evaluate.outputs.calibration }}',
          promote: { metric: 'auc', min: 0.5, mustBeatProduction: true },
        },
      }),
    ]);
    const workflowId = `evalcsv-publish-${randomUUID().slice(0, 8)}`;
    const handle = await workers.client.workflow.start('runPipeline', pipelineStartOptions(spec, { workflowId, taskQueuePrefix: workers.taskQueuePrefix }));
    const outputs = z.object({ evaluate: z.object({ metrics: z.record(z.string(), z.number()) }), publish: publishStep.output }).loose().parse(await handle.result());
    assert.deepEqual(outputs.evaluate.metrics, fromModel.metrics);
    assert.equal(outputs.publish.version, 1);
    assert.equal(outputs.publish.promoted, true, outputs.publish.reason);
    assert.match(outputs.publish.reason, /^promoted: auc [0-9.]+ ≥ 0\.5000, no production version yet$/);

    // The folder is copied as it is, every file byte for byte.
    const target = `${registryKeys.version('user-model', 1)}model/`;
    assert.deepEqual((await store.list(target)).sort(), Object.keys(files).map((path) => `${target}${path}`).sort());
    for (const [path, body] of Object.entries(files)) assert.deepEqual(await store.get(`${target}${path}`), body, path);
    const record = VersionRecordSchema.parse(await store.getJson(registryKeys.record('user-model', 1)));
    assert.equal(record.format, 'other');
    assert.deepEqual([record.lineage.code, record.lineage.sourceModel, record.lineage.workflowId], [code, folder, workflowId]);
    assert.deepEqual(record.metrics, fromModel.metrics);
    assert.deepEqual([record.threshold, record.calibration], [fromModel.threshold, fromModel.calibration]);
    // The step passed no thresholdScale: the record takes it from the evaluation's metrics.json.
    assert.equal(record.thresholdScale, fromModel.thresholdScale);
    assert.ok(record.metricsKey && (await store.exists(record.metricsKey)), 'the evaluation metrics.json travels with the version');

    // A worse version of the same model is registered but does not take production.
    const worse = await publish(
      store,
      publishStep.input.parse({ name: 'user-model', model: folder, format: 'other', metrics: { ...fromModel.metrics, auc: fromModel.metrics.auc - 0.01 }, promote: { metric: 'auc', mustBeatProduction: true } }),
      { owner: 'run-worse', lineage: { pipeline: 'p', workflowId: 'run-worse', runId: 'r', stepId: 'publish', code, sourceModel: folder } },
    );
    assert.deepEqual([worse.version, worse.promoted], [2, false]);
    assert.match(worse.reason, /does not beat production version 1/);
    assert.equal((await readAlias(store, 'user-model', 'production'))?.version, 1);
    assert.equal((await readAlias(store, 'user-model', 'latest'))?.version, 2);
  });

  it('publishes one .onnx file as format onnx, and refuses format onnx for a folder without one', async () => {
    const file = 'artifacts/onnx-model/model.onnx';
    const bytes = Buffer.from('not really onnx, but the registry copies bytes');
    await store.put(file, bytes);
    const lineage = { pipeline: 'p', workflowId: 'onnx', runId: 'r', stepId: 'publish', sourceModel: file };
    const published = await publish(store, publishStep.input.parse({ name: 'onnx-model', model: file, format: 'onnx', metrics: { auc: 0.9 } }), { owner: 'onnx-1', lineage });
    assert.deepEqual(await store.list(`${published.prefix}model/`), [`${published.prefix}model/model.onnx`]);
    assert.deepEqual(await store.get(`${published.prefix}model/model.onnx`), bytes);
    assert.equal(VersionRecordSchema.parse(await store.getJson(registryKeys.record('onnx-model', 1))).format, 'onnx');

    await store.put('artifacts/not-onnx/weights.bin', Buffer.from([1, 2, 3]));
    await assert.rejects(
      publish(store, publishStep.input.parse({ name: 'onnx-model', model: 'artifacts/not-onnx/', format: 'onnx', metrics: { auc: 0.9 } }), { owner: 'onnx-2', lineage }),
      (error: unknown) => error instanceof ModelRegistryError && error.message === 'Publish failed: format: onnx, but artifacts/not-onnx/ holds no .onnx file (weights.bin)',
    );
    await assert.rejects(
      publish(store, publishStep.input.parse({ name: 'onnx-model', model: 'artifacts/missing/', format: 'other', metrics: { auc: 0.9 } }), { owner: 'onnx-3', lineage }),
      /Publish failed: the model artifacts\/missing\/ names no object and no folder with objects in it/,
    );
  });
});
