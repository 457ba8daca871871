import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseWorkerConfig } from '../../worker/config.ts';
import { ConfigError } from '../../common/index.ts';

describe('worker configuration', () => {
  const credentials = { S3_ACCESS_KEY_ID: 'access', S3_SECRET_ACCESS_KEY: 'secret' };

  it('fills sensible local defaults when only credentials are given', () => {
    const config = parseWorkerConfig(credentials);
    assert.equal(config.temporal.address, '127.0.0.1:7233');
    assert.equal(config.temporal.namespace, 'default');
    assert.deepEqual(config.queues, ['cpu']);
    assert.equal(config.storage.endpoint, 'http://127.0.0.1:9000');
    assert.equal(config.storage.secretAccessKey, 'secret');
  });

  it('reads secrets from *_FILE paths, trimming the trailing newline', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mlp-config-'));
    try {
      writeFileSync(path.join(dir, 'key'), 'from-file\n');
      writeFileSync(path.join(dir, 'secret'), 'secret-from-file\n');
      const config = parseWorkerConfig({ S3_ACCESS_KEY_ID_FILE: path.join(dir, 'key'), S3_SECRET_ACCESS_KEY_FILE: path.join(dir, 'secret') });
      assert.equal(config.storage.accessKeyId, 'from-file');
      assert.equal(config.storage.secretAccessKey, 'secret-from-file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('joins the ml-pipelines worker deployment by default, making its build current only when none is', () => {
    const config = parseWorkerConfig(credentials);
    assert.deepEqual(config.deployment, { name: 'ml-pipelines', setCurrent: 'if-none' });
  });

  it('reads the deployment name, build ID and set-current policy, and turns versioning off on request', () => {
    const config = parseWorkerConfig({ ...credentials, MLP_DEPLOYMENT_NAME: 'gpu-team', MLP_BUILD_ID: 'v1.2.3', MLP_DEPLOYMENT_SET_CURRENT: 'never' });
    assert.deepEqual(config.deployment, { name: 'gpu-team', buildId: 'v1.2.3', setCurrent: 'never' });
    assert.equal(parseWorkerConfig({ ...credentials, MLP_WORKER_VERSIONING: 'off' }).deployment, undefined);
  });

  it("reports the version Temporal's Worker Controller injects when the MLP_ names are not set", () => {
    const injected = { TEMPORAL_DEPLOYMENT_NAME: 'ml-prod', TEMPORAL_WORKER_BUILD_ID: '9f3c2e1' };
    assert.deepEqual(parseWorkerConfig({ ...credentials, ...injected, MLP_DEPLOYMENT_SET_CURRENT: 'never' }).deployment, { name: 'ml-prod', buildId: '9f3c2e1', setCurrent: 'never' });
    assert.deepEqual(parseWorkerConfig({ ...credentials, ...injected, MLP_DEPLOYMENT_NAME: 'mine', MLP_BUILD_ID: 'b1' }).deployment, { name: 'mine', buildId: 'b1', setCurrent: 'if-none' });
  });

  it('refuses a build ID or deployment name the server cannot take, naming the variable', () => {
    assert.throws(() => parseWorkerConfig({ ...credentials, MLP_BUILD_ID: 'a:b' }), (error: Error) => error instanceof ConfigError && /MLP_BUILD_ID: .*no ":"/.test(error.message));
    assert.throws(() => parseWorkerConfig({ ...credentials, MLP_DEPLOYMENT_NAME: 'ml.pipelines' }), /MLP_DEPLOYMENT_NAME: expected letters, digits, - and _/);
    assert.throws(() => parseWorkerConfig({ ...credentials, MLP_WORKER_VERSIONING: 'yes' }), /MLP_WORKER_VERSIONING: expected on or off/);
  });

  it('runs workflows and activities in one process with a 30 s shutdown grace period unless told otherwise', () => {
    const config = parseWorkerConfig(credentials);
    assert.equal(config.role, 'all');
    assert.equal(config.shutdownGraceMs, 30_000);
  });

  it('reads the process role and the shutdown grace period in s, m or ms', () => {
    const config = parseWorkerConfig({ ...credentials, MLP_WORKER_ROLE: 'workflows', MLP_SHUTDOWN_GRACE_TIME: '2m' });
    assert.equal(config.role, 'workflows');
    assert.equal(config.shutdownGraceMs, 120_000);
    assert.equal(parseWorkerConfig({ ...credentials, MLP_SHUTDOWN_GRACE_TIME: '1500ms' }).shutdownGraceMs, 1500);
    assert.equal(parseWorkerConfig({ ...credentials, MLP_SHUTDOWN_GRACE_TIME: '0' }).shutdownGraceMs, 0);
  });

  it('names MLP_SHUTDOWN_GRACE_TIME and the expected form when the grace period is not a duration', () => {
    assert.throws(() => parseWorkerConfig({ ...credentials, MLP_SHUTDOWN_GRACE_TIME: 'soon' }), /MLP_SHUTDOWN_GRACE_TIME: expected a duration such as 30s or 2m, got "soon"/);
  });

  it('links notifications to MLP_TEMPORAL_UI_URL without its trailing slash, and to nothing when unset', () => {
    assert.equal(parseWorkerConfig({ ...credentials, MLP_TEMPORAL_UI_URL: 'https://temporal.example/' }).temporalUiUrl, 'https://temporal.example');
    assert.equal(parseWorkerConfig(credentials).temporalUiUrl, undefined);
    assert.throws(() => parseWorkerConfig({ ...credentials, MLP_TEMPORAL_UI_URL: 'temporal 8233' }), /MLP_TEMPORAL_UI_URL/);
  });

  it('treats an empty MLFLOW_TRACKING_* or MLP_TEMPORAL_UI_URL as unset, as compose passes them from a host without them', () => {
    const empty = { MLFLOW_TRACKING_URI: '', MLFLOW_TRACKING_TOKEN: '', MLFLOW_TRACKING_TOKEN_FILE: '', MLFLOW_TRACKING_USERNAME: '', MLFLOW_TRACKING_PASSWORD: '', MLP_TEMPORAL_UI_URL: '' };
    const config = parseWorkerConfig({ ...credentials, ...empty });
    assert.equal(config.mlflow, undefined);
    assert.equal(config.temporalUiUrl, undefined);
    const tracked = parseWorkerConfig({ ...credentials, ...empty, MLFLOW_TRACKING_URI: 'http://mlflow:5000', MLFLOW_TRACKING_TOKEN: 't0ken' });
    assert.deepEqual(tracked.mlflow, { uri: 'http://mlflow:5000', token: 't0ken' });
    assert.throws(() => parseWorkerConfig({ ...credentials, MLFLOW_TRACKING_URI: '', MLFLOW_TRACKING_TOKEN: 't0ken' }), /MLFLOW_TRACKING_TOKEN set without MLFLOW_TRACKING_URI/);
    assert.throws(() => parseWorkerConfig({ ...credentials, MLFLOW_TRACKING_URI: 'mlflow 5000' }), /MLFLOW_TRACKING_URI/);
  });

  it("resolves notify: webhook URLs from the environment it parsed", async () => {
    const config = parseWorkerConfig({ ...credentials, ALERT_WEBHOOK_URL: 'https://hooks.example/services/T0/token' });
    assert.equal((await config.resolveWebhookUrl({ env: 'ALERT_WEBHOOK_URL' })).href, 'https://hooks.example/services/T0/token');
  });

  it('puts run steps under MLP_RUN_DIR (envs inside unless MLP_RUN_ENVS_DIR says otherwise) and passes only PATH and LANG on to their commands', () => {
    const defaults = parseWorkerConfig(credentials).run;
    assert.equal(defaults.runDir, path.join(tmpdir(), 'mlp-run'));
    assert.equal(defaults.envsDir, path.join(tmpdir(), 'mlp-run', 'envs'));
    assert.equal(defaults.checkpointIntervalMs, 30_000);
    const set = parseWorkerConfig({ ...credentials, MLP_RUN_DIR: '/scratch/run', MLP_RUN_ENVS_DIR: '/cache/envs', MLP_RUN_CHECKPOINT_INTERVAL: '500ms', PATH: '/opt/bin:/usr/bin', LANG: 'de_DE.UTF-8' }).run;
    assert.deepEqual(set, { runDir: '/scratch/run', envsDir: '/cache/envs', checkpointIntervalMs: 500, commandPath: '/opt/bin:/usr/bin', lang: 'de_DE.UTF-8', basePython: 'python3' });
    assert.throws(() => parseWorkerConfig({ ...credentials, MLP_RUN_CHECKPOINT_INTERVAL: 'often' }), /MLP_RUN_CHECKPOINT_INTERVAL: expected a duration such as 30s or 2m, got "often"/);
  });

  it('parses a comma-separated queue list', () => {
    assert.deepEqual(parseWorkerConfig({ ...credentials, MLP_WORKER_QUEUES: 'cpu, gpu' }).queues, ['cpu', 'gpu']);
  });

  it('names the variable and the allowed values when a queue is unknown', () => {
    assert.throws(() => parseWorkerConfig({ ...credentials, MLP_WORKER_QUEUES: 'tpu' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /MLP_WORKER_QUEUES/);
      assert.match(error.message, /"cpu"\|"gpu"|cpu.*gpu/);
      return true;
    });
  });

  it('refuses to start without object-store credentials and says which variable is missing', () => {
    assert.throws(() => parseWorkerConfig({}), /Missing S3_ACCESS_KEY_ID \(or S3_ACCESS_KEY_ID_FILE\)/);
  });

  it('rejects a secret given both inline and as a file without echoing its value', () => {
    assert.throws(
      () => parseWorkerConfig({ S3_ACCESS_KEY_ID: 'access', S3_SECRET_ACCESS_KEY: 'hunter2-value', S3_SECRET_ACCESS_KEY_FILE: '/run/secrets/s3' }),
      (error: unknown) => error instanceof ConfigError && /not both/.test(error.message) && !error.message.includes('hunter2-value'),
    );
  });

  it('reads a task queue prefix per environment and names MLP_TASK_QUEUE_PREFIX when it cannot be part of a queue name', () => {
    assert.equal(parseWorkerConfig(credentials).temporal.taskQueuePrefix, 'ml-pipelines');
    assert.equal(parseWorkerConfig({ ...credentials, MLP_TASK_QUEUE_PREFIX: 'staging.ml' }).temporal.taskQueuePrefix, 'staging.ml');
    assert.throws(() => parseWorkerConfig({ ...credentials, MLP_TASK_QUEUE_PREFIX: 'my queue' }), /MLP_TASK_QUEUE_PREFIX: expected letters, digits/);
  });

  it('falls back to the next engine unless MLP_ENGINE_STRICT is true, and names the variable for other values', () => {
    assert.equal(parseWorkerConfig(credentials).engineStrict, false);
    assert.equal(parseWorkerConfig({ ...credentials, MLP_ENGINE: 'webgpu', MLP_ENGINE_STRICT: 'true' }).engineStrict, true);
    assert.throws(() => parseWorkerConfig({ ...credentials, MLP_ENGINE_STRICT: 'yes' }), /MLP_ENGINE_STRICT: expected true or false/);
  });

  it('caps the activities a process runs at once only when MLP_MAX_CONCURRENT_ACTIVITIES says so, naming it for a bad value', () => {
    assert.equal(parseWorkerConfig(credentials).maxConcurrentActivities, undefined);
    assert.equal(parseWorkerConfig({ ...credentials, MLP_MAX_CONCURRENT_ACTIVITIES: '1' }).maxConcurrentActivities, 1);
    assert.throws(() => parseWorkerConfig({ ...credentials, MLP_MAX_CONCURRENT_ACTIVITIES: '0' }), /MLP_MAX_CONCURRENT_ACTIVITIES: expected a positive whole number/);
  });
});
