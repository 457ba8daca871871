import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { displayUri, MlflowClient, MlflowError } from '../../activities/tracking/mlflow-client.ts';
import { loadPipelineText } from '../../client/pipelines/pipeline-file.ts';
import { ConfigError } from '../../common/errors.ts';
import { reducePipelineProgress, startPipelineProgress } from '../../common/pipeline-progress-reducer.ts';
import { parseStepActivityId } from '../../common/step-activity-ids.ts';
import { TRACKING_ACTIVITY_IDS, trackingActivitySubject } from '../../common/tracking.ts';
import { parseWorkerConfig } from '../../worker/config.ts';

const PIPELINE = 'apiVersion: mlp/v1\nname: p\nsteps:\n  - id: a\n    uses: noop\n';

function problemsOf(text: string): string {
  try {
    loadPipelineText(text, 'p.yaml');
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  return assert.fail('the pipeline validated but was expected to fail');
}

describe('tracking.mlflow in a pipeline', () => {
  it('resolves with required defaulting to false, and changes the spec hash', () => {
    const tracked = loadPipelineText(`${PIPELINE}tracking:\n  mlflow:\n    experiment: pneumonia\n`, 'p.yaml');
    assert.deepEqual(tracked.resolved.tracking, { mlflow: { experiment: 'pneumonia', required: false } });
    const plain = loadPipelineText(PIPELINE, 'p.yaml');
    assert.equal(plain.resolved.tracking, undefined, 'untracked pipelines carry no tracking key');
    assert.notEqual(tracked.resolved.specHash, plain.resolved.specHash);
    const required = loadPipelineText(`${PIPELINE}tracking:\n  mlflow:\n    experiment: pneumonia\n    required: true\n`, 'p.yaml');
    assert.equal(required.resolved.tracking?.mlflow.required, true);
  });

  it('refuses credentials or a server in the file, and an empty experiment, naming the line', () => {
    assert.match(problemsOf(`${PIPELINE}tracking:\n  mlflow:\n    experiment: x\n    token: abc\n`), /p\.yaml:\d+:\d+.*token/s);
    assert.match(problemsOf(`${PIPELINE}tracking:\n  mlflow:\n    experiment: x\n    uri: http://mlflow:5000\n`), /uri/);
    assert.match(problemsOf(`${PIPELINE}tracking:\n  mlflow:\n    experiment: ''\n`), /expected an experiment name/);
  });

  it('has activity ids that are never taken for a step', () => {
    for (const id of [TRACKING_ACTIVITY_IDS.start, TRACKING_ACTIVITY_IDS.step('train'), TRACKING_ACTIVITY_IDS.end]) assert.equal(parseStepActivityId(id), undefined, id);
    assert.deepEqual(
      [TRACKING_ACTIVITY_IDS.start, TRACKING_ACTIVITY_IDS.step('train'), TRACKING_ACTIVITY_IDS.end, 'train', 'notify/0', 'mlflow/step/'].map(trackingActivitySubject),
      ['run start', 'step train', 'run end', undefined, undefined, undefined],
    );
  });

  it('records where the run is tracked and each warning in the progress', () => {
    let progress = startPipelineProgress({ pipeline: 'p', specHash: 'h', steps: [{ id: 'a', uses: 'noop', queue: 'cpu' }], at: '2026-12-07T00:00:00Z' });
    assert.equal(progress.tracking, undefined);
    progress = reducePipelineProgress(progress, { type: 'trackingStarted', experimentId: '3', runId: 'r1' });
    progress = reducePipelineProgress(progress, { type: 'trackingWarning', message: 'step evaluate: down' });
    assert.deepEqual(progress.tracking, { experimentId: '3', runId: 'r1', warnings: ['step evaluate: down'] });
  });
});

describe('MLflow settings on the worker', () => {
  const base = { S3_ACCESS_KEY_ID: 'a', S3_SECRET_ACCESS_KEY: 's' };

  it('reads the server and a token or a user and password; none without MLFLOW_TRACKING_URI', () => {
    assert.equal(parseWorkerConfig(base).mlflow, undefined);
    assert.deepEqual(parseWorkerConfig({ ...base, MLFLOW_TRACKING_URI: 'http://mlflow:5000', MLFLOW_TRACKING_TOKEN: 't' }).mlflow, { uri: 'http://mlflow:5000', token: 't' });
    assert.deepEqual(parseWorkerConfig({ ...base, MLFLOW_TRACKING_URI: 'http://mlflow:5000', MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' }).mlflow, {
      uri: 'http://mlflow:5000',
      username: 'u',
      password: 'p',
    });
  });

  it('refuses credentials without a server, half a user/password pair, or two kinds at once, never printing a value', () => {
    const cases: Record<string, string>[] = [
      { MLFLOW_TRACKING_TOKEN: 'secret-1' },
      { MLFLOW_TRACKING_URI: 'http://m', MLFLOW_TRACKING_USERNAME: 'secret-1' },
      { MLFLOW_TRACKING_URI: 'http://m', MLFLOW_TRACKING_TOKEN: 'secret-1', MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'secret-2' },
    ];
    for (const env of cases) {
      assert.throws(() => parseWorkerConfig({ ...base, ...env }), (error: unknown) => error instanceof ConfigError && /MLFLOW_TRACKING/.test(error.message) && !error.message.includes('secret-'));
    }
  });

  it('shows a URI without its user and password', () => {
    assert.equal(displayUri('https://user:pw@mlflow.example/prefix'), 'https://mlflow.example/prefix');
  });
});

describe('the MLflow client', () => {
  let server: Server;
  let uri = '';
  const answers: number[] = [];
  let requests = 0;
  const headers: (string | undefined)[] = [];

  before(async () => {
    server = createServer((request, response) => {
      requests += 1;
      headers.push(request.headers.authorization);
      const status = answers.shift() ?? 200;
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(status === 200 ? '{"experiment":{"experiment_id":"7"}}' : JSON.stringify({ error_code: status === 404 ? 'RESOURCE_DOES_NOT_EXIST' : 'INTERNAL_ERROR', message: 'nope' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  beforeEach(() => {
    requests = 0;
    answers.length = 0;
    headers.length = 0;
  });

  it('retries a 5xx briefly and sends the token as a bearer header', async () => {
    answers.push(503, 500);
    assert.equal(await new MlflowClient({ uri, token: 'tok' }).ensureExperiment('e'), '7');
    assert.equal(requests, 3);
    assert.deepEqual(headers, ['Bearer tok', 'Bearer tok', 'Bearer tok']);
  });

  it('gives up after its attempts with an error that names the server, and does not retry a 4xx', async () => {
    answers.push(500, 500, 500);
    await assert.rejects(new MlflowClient({ uri, attempts: 3 }).ensureExperiment('e'), (error: unknown) => error instanceof MlflowError && error.message.includes(uri) && error.status === 500);
    assert.equal(requests, 3);
    answers.push(400);
    await assert.rejects(new MlflowClient({ uri, attempts: 3 }).ensureExperiment('e'), MlflowError);
    assert.equal(requests, 4);
  });
});
