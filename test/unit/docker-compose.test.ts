import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { parseWorkerConfig, WORKER_ENV_KEYS, workerEnvSchema } from '../../worker/config.ts';
import { SEARCH_ATTRIBUTES } from '../../common/index.ts';
import { composeDurationSeconds, imageProblems, interpolateCompose } from '../helpers/deploy-images.ts';

// No Docker engine runs in CI: these tests check the compose file against the worker's own
// config schema so the production stack cannot drift from the code.

const serviceSchema = z.looseObject({
  image: z.string().optional(),
  build: z.unknown().optional(),
  ports: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  entrypoint: z.unknown().optional(),
  deploy: z.unknown().optional(),
  secrets: z.array(z.string()).optional(),
  depends_on: z.record(z.string(), z.object({ condition: z.enum(['service_started', 'service_healthy', 'service_completed_successfully']) })).optional(),
  stop_grace_period: z.string().optional(),
  volumes: z.array(z.string()).optional(),
});
const composeSchema = z.looseObject({
  services: z.record(z.string(), serviceSchema),
  secrets: z.record(z.string(), z.object({ file: z.string() })),
  volumes: z.record(z.string(), z.null()).optional(),
});

/** A compose file as `docker compose` reads it on a host with the environment `host`. */
const loadCompose = (file: string, host: Record<string, string> = {}) =>
  composeSchema.parse(interpolateCompose(parse(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'), { merge: true }), host));
// The file as run on a host that sets none of its variables.
const compose = loadCompose('docker-compose.yml');
const service = (name: string) => {
  const found = compose.services[name];
  assert.ok(found, `docker-compose.yml has no service "${name}"`);
  return found;
};
const env = (name: string): Record<string, string> =>
  Object.fromEntries(Object.entries(service(name).environment ?? {}).map(([key, value]) => [key, String(value)]));
const dependsOn = (name: string) => Object.fromEntries(Object.entries(service(name).depends_on ?? {}).map(([key, value]) => [key, value.condition]));
const publishedPorts = (name: string) => (service(name).ports ?? []).map((port) => Number(port.split(':')[0]));

describe('docker-compose.yml', () => {
  it('defines the production services: Temporal on PostgreSQL, its UI, MinIO, a workflow worker and both activity workers', () => {
    for (const name of ['postgresql', 'temporal', 'temporal-ui', 'minio', 'worker-workflows', 'worker-cpu', 'worker-gpu']) service(name);
    assert.equal(env('temporal').DB, 'postgres12');
    assert.equal(env('temporal').POSTGRES_SEEDS, 'postgresql');
  });

  it('publishes the Temporal frontend, the UI and the S3 API on their usual ports', () => {
    assert.ok(publishedPorts('temporal').includes(7233));
    assert.ok(publishedPorts('temporal-ui').includes(8080));
    assert.ok(publishedPorts('minio').includes(9000));
  });

  const workers = [
    ['worker-workflows', 'cpu', 'workflows'],
    ['worker-cpu', 'cpu', 'activities'],
    ['worker-gpu', 'gpu', 'activities'],
  ] as const;
  for (const [name, queue, role] of workers) {
    it(`gives ${name} only environment variables the worker config schema knows, and valid values (${role} of the ${queue} queue)`, () => {
      const workerEnv = env(name);
      const unknown = Object.keys(workerEnv).filter((key) => !WORKER_ENV_KEYS.includes(key) && !key.startsWith('NVIDIA_'));
      assert.deepEqual(unknown, [], `unknown worker variables in ${name}`);
      const parsed = workerEnvSchema.parse(workerEnv);
      assert.deepEqual(parsed.MLP_WORKER_QUEUES, [queue]);
      assert.equal(parsed.MLP_WORKER_ROLE, role);
    });

    it(`points ${name} at the compose services for Temporal and S3, with secrets from files`, () => {
      const workerEnv = env(name);
      const [temporalHost, temporalPort] = (workerEnv.TEMPORAL_ADDRESS ?? '').split(':');
      assert.equal(temporalHost, 'temporal');
      assert.ok(publishedPorts('temporal').includes(Number(temporalPort)));
      const s3 = new URL(workerEnv.S3_ENDPOINT ?? '');
      assert.equal(s3.hostname, 'minio');
      assert.ok(publishedPorts('minio').includes(Number(s3.port)));
      assert.equal(workerEnv.S3_SECRET_ACCESS_KEY, undefined, 'secrets must not be inline');
      assert.match(workerEnv.S3_SECRET_ACCESS_KEY_FILE ?? '', /^\/run\/secrets\//);
      const secretName = (workerEnv.S3_SECRET_ACCESS_KEY_FILE ?? '').replace('/run/secrets/', '');
      assert.ok(service(name).secrets?.includes(secretName), `${name} must mount the ${secretName} secret`);
      assert.ok(compose.secrets[secretName], `secret ${secretName} must be declared`);
    });
  }

  it('reserves an NVIDIA GPU for the gpu worker with the graphics capability Vulkan needs', () => {
    const deploy = z
      .object({ resources: z.object({ reservations: z.object({ devices: z.array(z.object({ driver: z.string(), capabilities: z.array(z.string()) })) }) }) })
      .parse(service('worker-gpu').deploy);
    assert.ok(deploy.resources.reservations.devices.some((device) => device.driver === 'nvidia' && device.capabilities.includes('gpu')));
    const capabilities = (env('worker-gpu').NVIDIA_DRIVER_CAPABILITIES ?? '').split(',');
    for (const capability of ['compute', 'utility', 'graphics']) assert.ok(capabilities.includes(capability), capability);
  });

  it('pins every image to a version: no latest tag, no deprecated auto-setup image', () => {
    const images = Object.entries(compose.services).map(([name, definition]) => {
      assert.ok(definition.image, `service ${name} names no image`);
      return definition.image;
    });
    assert.deepEqual(images.flatMap(imageProblems), []);
    assert.match(service('temporal').image ?? '', /^temporalio\/server:\d+\.\d+\.\d+$/);
    assert.match(service('temporal-schema').image ?? '', /^temporalio\/admin-tools:/);
    assert.match(service('temporal-ui').image ?? '', /^temporalio\/ui:/);
  });

  it('sets up the schema of both databases with admin-tools before the server starts', () => {
    assert.deepEqual(dependsOn('temporal-schema'), { postgresql: 'service_healthy' });
    assert.deepEqual(dependsOn('temporal'), { 'temporal-schema': 'service_completed_successfully' });
    const script = JSON.stringify(service('temporal-schema').entrypoint);
    for (const part of ['temporal-sql-tool', 'setup-schema', 'update-schema', 'temporal_visibility', 'postgres12']) assert.ok(script.includes(part), part);
  });

  it('creates the workers\' namespace once the server is healthy, then the search attributes, before any worker starts', () => {
    assert.deepEqual(dependsOn('temporal-namespace'), { temporal: 'service_healthy' });
    const namespace = env('worker-workflows').TEMPORAL_NAMESPACE ?? '';
    assert.ok(JSON.stringify(service('temporal-namespace').entrypoint).includes(`namespace create --namespace ${namespace}`));
    assert.deepEqual(dependsOn('temporal-search-attributes'), { 'temporal-namespace': 'service_completed_successfully' });
    assert.equal(dependsOn('temporal-ui').temporal, 'service_healthy');
    for (const name of ['worker-workflows', 'worker-cpu', 'worker-gpu']) {
      assert.deepEqual(
        dependsOn(name),
        { temporal: 'service_healthy', 'temporal-search-attributes': 'service_completed_successfully', minio: 'service_healthy' },
        name,
      );
    }
  });

  it('gives every worker more time to stop than its shutdown grace time, so running steps finish before the SIGKILL', () => {
    for (const name of ['worker-workflows', 'worker-cpu', 'worker-gpu']) {
      const graceSeconds = workerEnvSchema.parse(env(name)).MLP_SHUTDOWN_GRACE_TIME / 1000;
      const stopSeconds = composeDurationSeconds(service(name).stop_grace_period ?? '10s');
      assert.ok(stopSeconds >= graceSeconds + 5, `${name}: stop_grace_period ${stopSeconds}s vs MLP_SHUTDOWN_GRACE_TIME ${graceSeconds}s`);
    }
  });

  it('runs one training step at a time on the gpu worker and refuses to fall back to the CPU there', () => {
    const parsed = workerEnvSchema.parse(env('worker-gpu'));
    assert.equal(parsed.MLP_ENGINE, 'webgpu');
    assert.equal(parsed.MLP_ENGINE_STRICT, true);
    assert.equal(parsed.MLP_MAX_CONCURRENT_ACTIVITIES, 1);
  });

  /** A worker service's environment on a host with `host`, with the override file's additions when given. */
  function workerEnvOn(name: string, host: Record<string, string>, override?: z.infer<typeof composeSchema>) {
    const base = loadCompose('docker-compose.yml', host).services[name];
    assert.ok(base, name);
    const extra = override?.services[name];
    const env = Object.fromEntries(Object.entries({ ...base.environment, ...extra?.environment }).map(([key, value]) => [key, String(value)]));
    return { env, secrets: [...new Set([...(base.secrets ?? []), ...(extra?.secrets ?? [])])] };
  }

  /**
   * The worker's configuration from a service's environment, its /run/secrets/<name> files
   * standing in as compose mounts them: what the worker would start with, or the error it stops with.
   */
  function startWorker(env: Record<string, string>, secrets: string[], contents: Record<string, string> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-compose-secrets-'));
    try {
      for (const secret of secrets) writeFileSync(join(dir, secret), `${contents[secret] ?? `${secret}-value`}\n`);
      const mounted = Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value.startsWith('/run/secrets/') ? join(dir, value.slice('/run/secrets/'.length)) : value]));
      return parseWorkerConfig(mounted);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('passes MLflow tracking and the Temporal UI link from the host to the activity workers: tracking off when unset or empty, links to this stack\'s UI by default', () => {
    for (const name of ['worker-cpu', 'worker-gpu']) {
      const unset = workerEnvOn(name, {});
      const config = startWorker(unset.env, unset.secrets);
      assert.equal(config.mlflow, undefined, `${name}: no MLflow without MLFLOW_TRACKING_URI`);
      assert.ok(config.temporalUiUrl, name);
      const ui = new URL(config.temporalUiUrl);
      assert.equal(ui.hostname, 'localhost');
      assert.ok(publishedPorts('temporal-ui').includes(Number(ui.port)), `${name}: links to the UI this stack publishes`);
      const empty = workerEnvOn(name, { MLFLOW_TRACKING_URI: '', MLP_TEMPORAL_UI_URL: '' });
      const off = startWorker(empty.env, empty.secrets);
      assert.deepEqual([off.mlflow, off.temporalUiUrl], [undefined, undefined], `${name}: empty means off`);
      const set = workerEnvOn(name, { MLFLOW_TRACKING_URI: 'http://mlflow.example:5000', MLP_TEMPORAL_UI_URL: 'https://temporal.example' });
      const on = startWorker(set.env, set.secrets);
      assert.deepEqual(on.mlflow, { uri: 'http://mlflow.example:5000' }, name);
      assert.equal(on.temporalUiUrl, 'https://temporal.example', name);
    }
    const workflows = workerEnvOn('worker-workflows', { MLFLOW_TRACKING_URI: 'http://mlflow.example:5000' }).env;
    assert.equal(workflows.MLFLOW_TRACKING_URI, undefined, 'the workflows worker runs no tracking activity');
  });

  it('adds the MLflow token as a secret file with docker-compose.mlflow.yml, and stops compose when MLFLOW_TRACKING_URI is missing', () => {
    const host = { MLFLOW_TRACKING_URI: 'https://mlflow.example' };
    const override = loadCompose('docker-compose.mlflow.yml', host);
    assert.deepEqual(Object.keys(override.services).sort(), ['worker-cpu', 'worker-gpu']);
    for (const name of Object.keys(override.services)) {
      const { env, secrets } = workerEnvOn(name, host, override);
      assert.equal(env.MLFLOW_TRACKING_TOKEN, undefined, 'the token must not be inline');
      const secretName = (env.MLFLOW_TRACKING_TOKEN_FILE ?? '').replace(/^\/run\/secrets\//, '');
      assert.notEqual(secretName, env.MLFLOW_TRACKING_TOKEN_FILE, `${name}: MLFLOW_TRACKING_TOKEN_FILE is a mounted secret`);
      assert.ok(secrets.includes(secretName), `${name} must mount the ${secretName} secret`);
      assert.ok(secrets.includes('s3_secret_key'), `${name} keeps its other secrets`);
      assert.match(override.secrets[secretName]?.file ?? '', /^\.\/\.secrets\//, 'kept with the other secret files (git-ignored)');
      const config = startWorker(env, secrets, { [secretName]: 't0ken' });
      assert.deepEqual(config.mlflow, { uri: 'https://mlflow.example', token: 't0ken' }, name);
    }
    assert.throws(() => loadCompose('docker-compose.mlflow.yml', {}), /MLFLOW_TRACKING_URI/);
  });

  it('keeps run steps\' folders (code, inputs, Python environments) on a named volume the image prepares for the worker user', () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    const workdir = /^WORKDIR (\S+)$/m.exec(dockerfile)?.[1];
    const prepared = /^RUN mkdir -p ([^&\n]+)&& chown -R node:node /m.exec(dockerfile)?.[1]?.trim().split(/\s+/).map((dir) => `${workdir}/${dir}`) ?? [];
    assert.match(dockerfile, /^USER node$/m);
    for (const name of ['worker-cpu', 'worker-gpu']) {
      const runDir = workerEnvSchema.parse(env(name)).MLP_RUN_DIR;
      assert.ok(runDir, `${name}: MLP_RUN_DIR`);
      const volume = (service(name).volumes ?? []).map((entry) => entry.split(':')).find(([, target]) => target === runDir);
      assert.ok(volume?.[0], `${name}: MLP_RUN_DIR=${runDir} is not a volume`);
      assert.ok(volume[0] in (compose.volumes ?? {}), `${name}: ${volume[0]} is a declared named volume`);
      assert.notEqual(volume[0], 'scratch');
      assert.ok(prepared.includes(runDir), `the image creates ${runDir} owned by node, or a new volume there is root's`);
    }
    assert.equal(env('worker-workflows').MLP_RUN_DIR, undefined, 'the workflows worker runs no step');
  });

  it('ships the interpreter run steps with `python:` build their environments from (python3 with venv and pip)', () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    const installed = [...dockerfile.matchAll(/apt-get install[^\n]*?((?:\s+[a-z0-9][a-z0-9.+-]*)+)\s*\\?$/gm)].flatMap((match) => (match[1] ?? '').trim().split(/\s+/));
    const interpreter = workerEnvSchema.parse(env('worker-cpu')).MLP_RUN_PYTHON;
    assert.equal(interpreter, 'python3');
    for (const pkg of ['python3', 'python3-venv', 'python3-pip']) assert.ok(installed.includes(pkg), `the image installs ${pkg} (installed: ${installed.join(' ')})`);
  });

  it('registers every custom search attribute the workflow upserts', () => {
    const script = JSON.stringify(service('temporal-search-attributes').entrypoint);
    for (const name of Object.keys(SEARCH_ATTRIBUTES)) assert.ok(script.includes(name), `${name} is not registered`);
  });
});
