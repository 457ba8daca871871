import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse } from 'yaml';
import { z } from 'zod';
import { findOnPath } from '../../client/servers/binaries.ts';
import { taskQueueName } from '../../common/index.ts';
import { WORKER_ENV_KEYS, workerEnvSchema } from '../../worker/config.ts';
import { imageProblems } from '../helpers/deploy-images.ts';

// No cluster in CI: the chart is linted and rendered with Helm for every values profile, the
// manifests are validated against the Kubernetes schemas offline (kubernetes-validate), and the
// rendered YAML is checked against the worker's own config schema and task queue names, like
// docker-compose.test.ts does for the compose file. deploy/tools/install.sh builds both tools.

const root = fileURLToPath(new URL('../../', import.meta.url));
const chart = join(root, 'deploy/helm/ml-pipelines-workers');
const profilesDir = join(root, 'deploy/helm/profiles');
const profiles = readdirSync(profilesDir).filter((file) => file.endsWith('.yaml')).sort();
/** Helm built from its Go module knows no cluster version: render for a current one. */
const KUBE_VERSION = '1.33.0';

const toolsBin = join(root, '.tools/bin');
const helm = existsSync(join(toolsBin, 'helm')) ? join(toolsBin, 'helm') : findOnPath('helm');
// Run through the venv's python: its console script's shebang holds the path it was created at.
const venvPython = join(root, '.tools/k8s-validate/bin/python');
const onPath = findOnPath('kubernetes-validate');
const kubernetesValidate: [string, ...string[]] | undefined = existsSync(venvPython) ? [venvPython, '-m', 'kubernetes_validate'] : onPath ? [onPath] : undefined;
const missingTool = (name: string) => `${name} is not installed: run \`bash deploy/tools/install.sh\` (npm test's pretest does)`;

// Kubernetes objects as far as these checks read them; everything else passes through.
const envVarSchema = z.looseObject({ name: z.string(), value: z.string().optional(), valueFrom: z.unknown().optional() });
const containerSchema = z.looseObject({
  name: z.string(),
  image: z.string(),
  env: z.array(envVarSchema).default([]),
  resources: z.looseObject({ limits: z.record(z.string(), z.union([z.string(), z.number()])).optional() }).optional(),
  readinessProbe: z.looseObject({ exec: z.object({ command: z.array(z.string()) }).optional() }).optional(),
  volumeMounts: z.array(z.looseObject({ name: z.string(), mountPath: z.string() })).default([]),
});
const deploymentSchema = z.looseObject({
  kind: z.literal('Deployment'),
  metadata: z.looseObject({ name: z.string(), labels: z.record(z.string(), z.string()).optional() }),
  spec: z.looseObject({
    replicas: z.number().optional(),
    template: z.looseObject({
      spec: z.looseObject({
        terminationGracePeriodSeconds: z.number(),
        containers: z.array(containerSchema).min(1),
        volumes: z
          .array(
            z.looseObject({
              name: z.string(),
              secret: z.looseObject({ secretName: z.string() }).optional(),
              emptyDir: z.looseObject({ sizeLimit: z.string().optional() }).optional(),
              persistentVolumeClaim: z.looseObject({ claimName: z.string() }).optional(),
            }),
          )
          .default([]),
      }),
    }),
  }),
});
/** KEDA's CRDs are not in kubernetes-validate: their structure is checked here. */
const scaledObjectSchema = z.strictObject({
  apiVersion: z.literal('keda.sh/v1alpha1'),
  kind: z.literal('ScaledObject'),
  metadata: z.looseObject({ name: z.string() }),
  spec: z.strictObject({
    scaleTargetRef: z.strictObject({ apiVersion: z.literal('apps/v1'), kind: z.literal('Deployment'), name: z.string() }),
    minReplicaCount: z.number().int().min(0),
    maxReplicaCount: z.number().int().min(1),
    pollingInterval: z.number().int().positive(),
    cooldownPeriod: z.number().int().positive(),
    advanced: z.strictObject({
      horizontalPodAutoscalerConfig: z.strictObject({
        behavior: z.strictObject({
          scaleDown: z.strictObject({
            stabilizationWindowSeconds: z.number().int().min(0),
            policies: z.array(z.strictObject({ type: z.enum(['Pods', 'Percent']), value: z.number().int().positive(), periodSeconds: z.number().int().positive() })),
          }),
        }),
      }),
    }),
    triggers: z
      .array(
        z.strictObject({
          type: z.literal('temporal'),
          // The scaler's metadata values are strings.
          metadata: z.strictObject({
            endpoint: z.string().regex(/^[^:]+:\d+$/),
            namespace: z.string().min(1),
            taskQueue: z.string().min(1),
            queueTypes: z.enum(['workflow', 'activity']),
            targetQueueSize: z.string().regex(/^\d+$/),
            activationTargetQueueSize: z.string().regex(/^\d+$/),
            minConnectTimeout: z.string().regex(/^\d+$/),
            tlsServerName: z.string().optional(),
            workerDeploymentName: z.string().min(1).optional(),
            workerDeploymentBuildId: z.string().min(1).optional(),
          }),
          authenticationRef: z.strictObject({ name: z.string() }).optional(),
        }),
      )
      .length(1),
  }),
});
const triggerAuthenticationSchema = z.strictObject({
  apiVersion: z.literal('keda.sh/v1alpha1'),
  kind: z.literal('TriggerAuthentication'),
  metadata: z.looseObject({ name: z.string() }),
  spec: z.strictObject({
    secretTargetRef: z.array(z.strictObject({ parameter: z.enum(['apiKey', 'cert', 'key', 'ca']), name: z.string(), key: z.string() })).min(1),
  }),
});

type Deployment = z.infer<typeof deploymentSchema>;
interface Rendered {
  text: string;
  file: string;
  values: { temporal: { taskQueuePrefix: string; address: string; namespace: string }; keda?: { enabled?: boolean } };
  docs: Array<{ kind?: string }>;
  deployments: Map<string, Deployment>;
}

function runHelm(args: string[]): { status: number | null; output: string } {
  const result = spawnSync(helm ?? 'helm', args, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const workerEnv = (deployment: Deployment): Record<string, string> =>
  Object.fromEntries((deployment.spec.template.spec.containers[0]?.env ?? []).map((variable) => [variable.name, variable.value ?? '']));

/** The three workers: their role, logical queue and the kind of task KEDA must count. */
const WORKERS = {
  workflows: { role: 'workflows', queue: 'cpu', queueType: 'workflow' },
  cpu: { role: 'activities', queue: 'cpu', queueType: 'activity' },
  gpu: { role: 'activities', queue: 'gpu', queueType: 'activity' },
} as const;

/** The worker a Deployment runs (`workflows`, `cpu`, `gpu`): its name less the release and, with versioning, the build suffix. */
function workerName(deployment: z.infer<typeof deploymentSchema>): string {
  const name = deployment.metadata.name.replace(/^mlp-ml-pipelines-workers-/, '');
  const build = deployment.metadata.labels?.['ml-pipelines/build'];
  return build === undefined ? name : name.slice(0, -(build.length + 1));
}

describe('Helm chart deploy/helm/ml-pipelines-workers', function () {
  this.timeout(120_000);
  const rendered = new Map<string, Rendered>();
  let outDir: string;

  before(function () {
    if (!helm) {
      // CI builds helm in its pretest: there a missing helm is a failure, not a skip.
      if (process.env['CI']) throw new Error(missingTool('helm'));
      console.log(`      skipped: ${missingTool('helm')}`);
      this.skip();
    }
    outDir = mkdtempSync(join(tmpdir(), 'mlp-helm-'));
    for (const profile of profiles) {
      const text = execFileSync(helm, ['template', 'mlp', chart, '--kube-version', KUBE_VERSION, '-f', join(profilesDir, profile)], { encoding: 'utf8' });
      const file = join(outDir, profile);
      writeFileSync(file, text);
      const docs = parseAllDocuments(text)
        .map((doc) => doc.toJS() as unknown)
        .filter((doc): doc is { kind?: string } => typeof doc === 'object' && doc !== null);
      const deployments = new Map(
        docs.filter((doc) => doc.kind === 'Deployment').map((doc) => {
          const deployment = deploymentSchema.parse(doc);
          return [workerName(deployment), deployment] as const;
        }),
      );
      const values = z
        .looseObject({ temporal: z.looseObject({ taskQueuePrefix: z.string(), address: z.string(), namespace: z.string() }), keda: z.looseObject({ enabled: z.boolean().optional() }).optional() })
        .parse(parse(readFileSync(join(profilesDir, profile), 'utf8')));
      rendered.set(profile, { text, file, values, docs, deployments });
    }
  });

  after(() => {
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  const each = (title: string, check: (render: Rendered, profile: string) => void) => {
    for (const profile of profiles) {
      it(`${title} (${basename(profile, '.yaml')})`, () => {
        const render = rendered.get(profile);
        assert.ok(render, `${profile} was not rendered`);
        check(render, profile);
      });
    }
  };

  it('has the values profiles the docs name: self-hosted, Temporal Cloud with an API key and with mTLS, KEDA on and off', () => {
    assert.deepEqual(profiles, ['cloud-api-key.yaml', 'cloud-mtls.yaml', 'self-hosted-keda.yaml', 'self-hosted.yaml']);
  });

  for (const profile of profiles) {
    it(`passes helm lint --strict (${basename(profile, '.yaml')})`, () => {
      const { status, output } = runHelm(['lint', '--strict', chart, '--kube-version', KUBE_VERSION, '-f', join(profilesDir, profile)]);
      assert.equal(status, 0, output);
      assert.match(output, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });
  }

  it('renders manifests that validate against the Kubernetes schemas, strictly (kubernetes-validate)', function () {
    if (!kubernetesValidate) {
      if (process.env['CI']) throw new Error(missingTool('kubernetes-validate'));
      console.log(`      skipped: ${missingTool('kubernetes-validate')}`);
      this.skip();
    }
    const files = [...rendered.values()].map((render) => render.file);
    const [command, ...prefix] = kubernetesValidate;
    const result = spawnSync(command, [...prefix, '--strict', '--kubernetes-version', KUBE_VERSION, ...files], { encoding: 'utf8' });
    const output = `${result.stdout}${result.stderr}`;
    assert.equal(result.status, 0, output);
    assert.doesNotMatch(output, /ERROR/);
    // Every built-in object was checked (only KEDA's CRDs have no bundled schema).
    const passed = output.match(/ passed for resource /g)?.length ?? 0;
    const builtIn = [...rendered.values()].flatMap((render) => render.docs).filter((doc) => doc.kind !== 'ScaledObject' && doc.kind !== 'TriggerAuthentication');
    assert.equal(passed, builtIn.length, output);
  });

  each('pins every image, never latest, and never the auto-setup image', (render) => {
    const images = [...render.deployments.values()].flatMap((deployment) => deployment.spec.template.spec.containers.map((container) => container.image));
    assert.ok(images.length > 0);
    assert.deepEqual(images.flatMap(imageProblems), []);
    assert.doesNotMatch(render.text, /:latest\b/);
    assert.doesNotMatch(render.text, /auto-setup/);
  });

  each('runs the workflows, cpu and gpu workers with only variables the worker config knows, and valid values', (render) => {
    assert.deepEqual([...render.deployments.keys()].sort(), Object.keys(WORKERS).sort());
    for (const [name, worker] of Object.entries(WORKERS)) {
      const deployment = render.deployments.get(name);
      assert.ok(deployment, name);
      const env = workerEnv(deployment);
      const unknown = Object.keys(env).filter((key) => !WORKER_ENV_KEYS.includes(key) && !key.startsWith('NVIDIA_'));
      assert.deepEqual(unknown, [], `unknown worker variables in ${name}`);
      const parsed = workerEnvSchema.parse(env);
      assert.equal(parsed.MLP_WORKER_ROLE, worker.role);
      assert.deepEqual(parsed.MLP_WORKER_QUEUES, [worker.queue]);
      assert.equal(parsed.MLP_TASK_QUEUE_PREFIX, render.values.temporal.taskQueuePrefix);
      assert.equal(parsed.TEMPORAL_ADDRESS, render.values.temporal.address);
    }
  });

  each('gives secrets only as files from mounted Secrets, never as values', (render) => {
    for (const [name, deployment] of render.deployments) {
      const env = workerEnv(deployment);
      for (const inline of ['S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'TEMPORAL_API_KEY']) assert.equal(env[inline], undefined, `${name}: ${inline} inline`);
      const container = deployment.spec.template.spec.containers[0];
      const fileVariables = Object.entries(env).filter(([key]) => key.endsWith('_FILE') || key.startsWith('TEMPORAL_TLS_') && key.endsWith('_PATH'));
      assert.ok(fileVariables.some(([key]) => key === 'S3_SECRET_ACCESS_KEY_FILE'), name);
      for (const [key, path] of fileVariables) {
        const mount = container?.volumeMounts.find((candidate) => path.startsWith(`${candidate.mountPath}/`));
        assert.ok(mount, `${name}: ${key}=${path} is not under a mounted volume`);
        const volume = deployment.spec.template.spec.volumes.find((candidate) => candidate.name === mount.name);
        assert.ok(volume?.secret?.secretName, `${name}: ${key} must come from a Secret`);
      }
    }
  });

  each('lets pods stop for longer than the worker shutdown grace time, so running steps finish before the SIGKILL', (render) => {
    for (const [name, deployment] of render.deployments) {
      const graceSeconds = workerEnvSchema.parse(workerEnv(deployment)).MLP_SHUTDOWN_GRACE_TIME / 1000;
      const termination = deployment.spec.template.spec.terminationGracePeriodSeconds;
      assert.ok(termination >= graceSeconds + 5, `${name}: terminationGracePeriodSeconds ${termination} vs MLP_SHUTDOWN_GRACE_TIME ${graceSeconds}s`);
    }
  });

  each('requests a GPU for the gpu worker, with the graphics capability Vulkan needs and a WebGPU readiness check', (render) => {
    const gpu = render.deployments.get('gpu');
    assert.ok(gpu);
    const container = gpu.spec.template.spec.containers[0];
    assert.ok(Number(container?.resources?.limits?.['nvidia.com/gpu']) >= 1, 'nvidia.com/gpu limit');
    const env = workerEnv(gpu);
    const capabilities = (env['NVIDIA_DRIVER_CAPABILITIES'] ?? '').split(',');
    for (const capability of ['graphics', 'compute', 'utility']) assert.ok(capabilities.includes(capability), capability);
    assert.ok(container?.readinessProbe?.exec?.command.includes('worker/check-webgpu.ts'), 'readiness runs worker/check-webgpu.ts');
    const parsed = workerEnvSchema.parse(env);
    assert.equal(parsed.MLP_ENGINE, 'webgpu');
    assert.equal(parsed.MLP_ENGINE_STRICT, true);
    assert.equal(parsed.MLP_MAX_CONCURRENT_ACTIVITIES, 1);
    for (const name of ['workflows', 'cpu']) {
      const limits = render.deployments.get(name)?.spec.template.spec.containers[0]?.resources?.limits ?? {};
      assert.equal(limits['nvidia.com/gpu'], undefined, `${name} must not hold a GPU`);
    }
  });

  each('scales each worker on its own task queue with KEDA when enabled, counting the right kind of task', (render) => {
    const scaledObjects = render.docs.filter((doc) => doc.kind === 'ScaledObject').map((doc) => scaledObjectSchema.parse(doc));
    if (!render.values.keda?.enabled) {
      assert.deepEqual(scaledObjects, []);
      for (const [name, deployment] of render.deployments) assert.ok((deployment.spec.replicas ?? 0) >= 1, `${name} has fixed replicas`);
      return;
    }
    assert.equal(scaledObjects.length, render.deployments.size, 'one ScaledObject per worker');
    const authentications = render.docs.filter((doc) => doc.kind === 'TriggerAuthentication').map((doc) => triggerAuthenticationSchema.parse(doc));
    for (const [name, worker] of Object.entries(WORKERS)) {
      const deployment = render.deployments.get(name);
      assert.ok(deployment);
      assert.equal(deployment.spec.replicas, undefined, `${name}: KEDA owns the replica count`);
      const scaled = scaledObjects.find((candidate) => candidate.spec.scaleTargetRef.name === deployment.metadata.name);
      assert.ok(scaled, `no ScaledObject targets ${deployment.metadata.name}`);
      const trigger = scaled.spec.triggers[0];
      assert.ok(trigger);
      const env = workerEnv(deployment);
      const parsed = workerEnvSchema.parse(env);
      const queues = parsed.MLP_WORKER_QUEUES.map((queue) => taskQueueName(queue, parsed.MLP_TASK_QUEUE_PREFIX));
      assert.deepEqual([trigger.metadata.taskQueue], queues, `${name}: the trigger watches the queue the worker polls`);
      assert.equal(trigger.metadata.taskQueue, taskQueueName(worker.queue, render.values.temporal.taskQueuePrefix));
      assert.equal(trigger.metadata.queueTypes, worker.queueType, `${name}: counts ${worker.queueType} tasks`);
      assert.equal(trigger.metadata.endpoint, parsed.TEMPORAL_ADDRESS);
      assert.equal(trigger.metadata.namespace, parsed.TEMPORAL_NAMESPACE);
      if (env['TEMPORAL_API_KEY_FILE'] || env['TEMPORAL_TLS_CLIENT_CERT_PATH']) {
        const authentication = authentications.find((candidate) => candidate.metadata.name === trigger.authenticationRef?.name);
        assert.ok(authentication, `${name}: the scaler needs the workers' credentials`);
        const parameters = authentication.spec.secretTargetRef.map((reference) => reference.parameter);
        assert.ok(parameters.includes(env['TEMPORAL_API_KEY_FILE'] ? 'apiKey' : 'cert'), parameters.join());
      }
    }
    const gpuDeployment = render.deployments.get('gpu');
    const gpu = scaledObjects.find((candidate) => candidate.spec.scaleTargetRef.name === gpuDeployment?.metadata.name);
    assert.equal(gpu?.spec.triggers[0]?.metadata.queueTypes, 'activity');
    assert.equal(gpu?.spec.triggers[0]?.metadata.targetQueueSize, '1', 'one GPU pod per waiting activity');
  });

  each('scales down slowly enough not to cut short a running training step', (render) => {
    const scaledObjects = render.docs.filter((doc) => doc.kind === 'ScaledObject').map((doc) => scaledObjectSchema.parse(doc));
    for (const scaled of scaledObjects) {
      const deployment = [...render.deployments.values()].find((candidate) => candidate.metadata.name === scaled.spec.scaleTargetRef.name);
      assert.ok(deployment);
      const grace = deployment.spec.template.spec.terminationGracePeriodSeconds;
      const scaleDown = scaled.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown;
      // A running step leaves no backlog: removing pods waits for longer than a pod may drain.
      assert.ok(scaleDown.stabilizationWindowSeconds >= grace, `${scaled.metadata.name}: stabilization ${scaleDown.stabilizationWindowSeconds}s < drain ${grace}s`);
      assert.ok(scaled.spec.cooldownPeriod >= grace, `${scaled.metadata.name}: cooldown ${scaled.spec.cooldownPeriod}s < drain ${grace}s`);
      assert.deepEqual(scaleDown.policies.map((policy) => [policy.type, policy.value]), [['Pods', 1]]);
    }
  });

  each('joins every worker to the worker deployment as the build of its image, and scales each build on its own backlog', (render) => {
    for (const [name, deployment] of render.deployments) {
      const env = workerEnvSchema.parse(workerEnv(deployment));
      const tag = deployment.spec.template.spec.containers[0]?.image.split(':').pop();
      assert.equal(env.MLP_WORKER_VERSIONING, 'on', name);
      assert.equal(env.MLP_DEPLOYMENT_NAME, 'ml-pipelines', name);
      assert.equal(env.MLP_BUILD_ID, tag, `${name}: the build is the image's tag`);
      assert.equal(env.MLP_CODE_VERSION, env.MLP_BUILD_ID, `${name}: the build is the code version the lineage records`);
      assert.equal(env.MLP_DEPLOYMENT_SET_CURRENT, 'if-none', name);
    }
    for (const doc of render.docs.filter((candidate) => candidate.kind === 'ScaledObject')) {
      const scaled = scaledObjectSchema.parse(doc);
      const deployment = [...render.deployments.values()].find((candidate) => candidate.metadata.name === scaled.spec.scaleTargetRef.name);
      assert.ok(deployment);
      const env = workerEnvSchema.parse(workerEnv(deployment));
      assert.deepEqual(
        [scaled.spec.triggers[0]?.metadata.workerDeploymentName, scaled.spec.triggers[0]?.metadata.workerDeploymentBuildId],
        [env.MLP_DEPLOYMENT_NAME, env.MLP_BUILD_ID],
        `${scaled.metadata.name} counts the backlog of its own build`,
      );
    }
  });

  /** The volume a path of a container lies on: the mount it is under (deepest first) and its volume. */
  function volumeOf(deployment: Deployment, path: string) {
    const mounts = [...(deployment.spec.template.spec.containers[0]?.volumeMounts ?? [])].sort((a, b) => b.mountPath.length - a.mountPath.length);
    const mount = mounts.find((candidate) => path === candidate.mountPath || path.startsWith(`${candidate.mountPath}/`));
    return mount && deployment.spec.template.spec.volumes.find((volume) => volume.name === mount.name);
  }

  each('gives run steps a volume of their own on the activity workers (MLP_RUN_DIR), not the container\'s writable layer', (render) => {
    for (const [name, deployment] of render.deployments) {
      const env = workerEnvSchema.parse(workerEnv(deployment));
      if (name === 'workflows') {
        assert.equal(env.MLP_RUN_DIR, undefined, 'the workflows worker runs no step');
        continue;
      }
      assert.ok(env.MLP_RUN_DIR, `${name}: MLP_RUN_DIR`);
      const volume = volumeOf(deployment, env.MLP_RUN_DIR);
      assert.ok(volume?.emptyDir, `${name}: MLP_RUN_DIR=${env.MLP_RUN_DIR} is not on an emptyDir`);
      assert.equal(volume.emptyDir.sizeLimit, '20Gi', `${name}: the run folder has a size limit`);
      assert.notEqual(volume.name, 'scratch', `${name}: run steps do not share the scratch volume`);
      // The environments stay inside the run folder unless a PVC is given.
      assert.equal(env.MLP_RUN_ENVS_DIR, undefined, name);
    }
  });

  each('adds no MLflow or Temporal UI settings unless they are set', (render) => {
    for (const [name, deployment] of render.deployments) {
      const keys = Object.keys(workerEnv(deployment)).filter((key) => key.startsWith('MLFLOW_') || key === 'MLP_TEMPORAL_UI_URL');
      assert.deepEqual(keys, [], name);
      assert.equal(volumeOf(deployment, '/var/run/secrets/mlp/mlflow/token'), undefined, name);
    }
  });

  it('passes the MLflow server, its token as a file from the named Secret, and the Temporal UI link to the activity workers only', function () {
    if (!helm) this.skip();
    const deployments = renderDeployments('tracking.mlflow.uri=http://mlflow.mlflow.svc:5000', 'tracking.mlflow.tokenSecret.name=mlflow-token', 'temporal.uiUrl=https://temporal.example/');
    assert.equal(deployments.size, 3);
    for (const deployment of deployments.values()) {
      const name = workerName(deployment);
      const env = workerEnvSchema.parse(workerEnv(deployment));
      if (name === 'workflows') {
        assert.deepEqual([env.MLFLOW_TRACKING_URI, env.MLFLOW_TRACKING_TOKEN_FILE, env.MLP_TEMPORAL_UI_URL], [undefined, undefined, undefined], 'no credentials where no activity runs');
        continue;
      }
      assert.equal(env.MLFLOW_TRACKING_URI, 'http://mlflow.mlflow.svc:5000', name);
      assert.equal(env.MLP_TEMPORAL_UI_URL, 'https://temporal.example/', name);
      assert.equal(env.MLFLOW_TRACKING_TOKEN, undefined, `${name}: the token is never a value`);
      assert.ok(env.MLFLOW_TRACKING_TOKEN_FILE, name);
      assert.equal(volumeOf(deployment, env.MLFLOW_TRACKING_TOKEN_FILE)?.secret?.secretName, 'mlflow-token', `${name}: the token file comes from the named Secret`);
      assert.equal(env.MLFLOW_TRACKING_TOKEN_FILE.split('/').pop(), 'token', `${name}: the Secret's default key`);
    }
    const withoutToken = renderDeployments('tracking.mlflow.uri=http://mlflow.mlflow.svc:5000');
    for (const deployment of withoutToken.values()) assert.equal(workerEnvSchema.parse(workerEnv(deployment)).MLFLOW_TRACKING_TOKEN_FILE, undefined);
  });

  it('keeps Python environments on an existing PVC when a worker names one, and validates that render against the Kubernetes schemas', function () {
    if (!helm) this.skip();
    const sets = ['workers.gpu.runDir.envsClaim=mlp-gpu-envs', 'workers.cpu.runDir.sizeLimit=50Gi', 'tracking.mlflow.uri=http://mlflow:5000', 'tracking.mlflow.tokenSecret.name=mlflow-token', 'temporal.uiUrl=https://temporal.example'];
    const deployments = renderDeployments(...sets);
    for (const deployment of deployments.values()) {
      const name = workerName(deployment);
      const env = workerEnvSchema.parse(workerEnv(deployment));
      if (name === 'gpu') {
        assert.ok(env.MLP_RUN_ENVS_DIR && env.MLP_RUN_DIR);
        assert.equal(volumeOf(deployment, env.MLP_RUN_ENVS_DIR)?.persistentVolumeClaim?.claimName, 'mlp-gpu-envs');
        assert.ok(volumeOf(deployment, env.MLP_RUN_DIR)?.emptyDir, 'the rest of the run folder stays with the pod');
      } else {
        assert.equal(env.MLP_RUN_ENVS_DIR, undefined, name);
      }
      if (name === 'cpu') assert.equal(volumeOf(deployment, env.MLP_RUN_DIR ?? '')?.emptyDir?.sizeLimit, '50Gi');
    }
    if (!kubernetesValidate) return;
    const args = ['template', 'mlp', chart, '--kube-version', KUBE_VERSION, '-f', join(profilesDir, 'self-hosted.yaml'), ...sets.flatMap((set) => ['--set', set])];
    const file = join(outDir, 'all-options.yaml');
    writeFileSync(file, execFileSync(helm ?? 'helm', args, { encoding: 'utf8' }));
    const [command, ...prefix] = kubernetesValidate;
    const result = spawnSync(command, [...prefix, '--strict', '--kubernetes-version', KUBE_VERSION, file], { encoding: 'utf8' });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  });

  it('refuses an MLflow token Secret without a tracking URI, and a token value in values', function () {
    if (!helm) this.skip();
    const base = ['template', 'mlp', chart, '--kube-version', KUBE_VERSION, '-f', join(profilesDir, 'self-hosted.yaml')];
    const noUri = runHelm([...base, '--set', 'tracking.mlflow.tokenSecret.name=mlflow-token']);
    assert.notEqual(noUri.status, 0);
    assert.match(noUri.output, /tracking\.mlflow\.tokenSecret\.name is set but tracking\.mlflow\.uri is empty/);
    const inline = runHelm([...base, '--set', 'tracking.mlflow.uri=http://mlflow:5000', '--set', 'tracking.mlflow.token=t0ken']);
    assert.notEqual(inline.status, 0);
    assert.match(inline.output, /at '\/tracking\/mlflow': additional properties 'token' not allowed/);
    const badUri = runHelm([...base, '--set', 'tracking.mlflow.uri=mlflow:5000']);
    assert.notEqual(badUri.status, 0);
    assert.match(badUri.output, /\/tracking\/mlflow\/uri/);
  });

  /** Deployments of a render of the self-hosted-keda profile with extra `--set`s, by name. */
  function renderDeployments(...sets: string[]): Map<string, z.infer<typeof deploymentSchema>> {
    if (!helm) throw new Error(missingTool('helm'));
    const args = ['template', 'mlp', chart, '--kube-version', KUBE_VERSION, '-f', join(profilesDir, 'self-hosted-keda.yaml'), ...sets.flatMap((set) => ['--set', set])];
    const docs = parseAllDocuments(execFileSync(helm, args, { encoding: 'utf8' })).map((doc) => doc.toJS() as { kind?: string });
    return new Map(docs.filter((doc) => doc.kind === 'Deployment').map((doc) => deploymentSchema.parse(doc)).map((deployment) => [deployment.metadata.name, deployment]));
  }

  it('upgrades by adding the new build next to the previous one: the previous build\'s Deployments are left exactly as they ran', function () {
    if (!helm) this.skip();
    const before = renderDeployments('image.tag=1.0.0');
    const during = renderDeployments('image.tag=1.1.0', 'versioning.previous.tag=1.0.0');
    const after = renderDeployments('image.tag=1.1.0');
    assert.equal(during.size, 2 * before.size, 'both builds run while the old one drains');
    for (const [name, deployment] of before) assert.deepEqual(during.get(name), deployment, `${name} is untouched by the upgrade (no pod restarts)`);
    for (const [name, deployment] of after) assert.deepEqual(during.get(name), deployment, `${name} is untouched when the drained build is removed`);
    const builds = [...during.values()].map((deployment) => workerEnvSchema.parse(workerEnv(deployment)).MLP_BUILD_ID);
    assert.deepEqual([...new Set(builds)].sort(), ['1.0.0', '1.1.0']);
    const same = runHelm(['template', 'mlp', chart, '--kube-version', KUBE_VERSION, '-f', join(profilesDir, 'self-hosted.yaml'), '--set', 'versioning.previous.tag=0.1.0']);
    assert.notEqual(same.status, 0);
    assert.match(same.output, /versioning\.previous names the same build as this release/);
  });

  it('keeps names and polls unversioned with versioning off, and keeps Deployment names within 63 characters for long build IDs', function () {
    if (!helm) this.skip();
    const off = renderDeployments('versioning.enabled=false');
    assert.deepEqual([...off.keys()].sort(), ['mlp-ml-pipelines-workers-cpu', 'mlp-ml-pipelines-workers-gpu', 'mlp-ml-pipelines-workers-workflows']);
    for (const deployment of off.values()) assert.equal(workerEnvSchema.parse(workerEnv(deployment)).MLP_WORKER_VERSIONING, 'off');
    const commit = 'a2341eae0164d709b1ed3b66cf3d0715f292d673';
    const long = renderDeployments(`image.tag=${commit}`, 'versioning.previous.tag=b2341eae0164d709b1ed3b66cf3d0715f292d673');
    assert.equal(long.size, 6);
    for (const name of long.keys()) assert.ok(name.length <= 63, `${name} is ${name.length} characters`);
  });

  it('refuses the latest tag and a missing S3 credentials Secret, naming the value to set', function () {
    if (!helm) this.skip();
    const base = ['template', 'mlp', chart, '--kube-version', KUBE_VERSION, '-f', join(profilesDir, 'self-hosted.yaml')];
    const latest = runHelm([...base, '--set', 'image.tag=latest']);
    assert.notEqual(latest.status, 0);
    assert.match(latest.output, /image\.tag must not be latest/);
    const noSecret = runHelm([...base, '--set', 's3.credentialsSecret.name=']);
    assert.notEqual(noSecret.status, 0);
    assert.match(noSecret.output, /s3\.credentialsSecret\.name is required/);
  });

  it('rejects a mistyped value and GPU capabilities without graphics through the values schema', function () {
    if (!helm) this.skip();
    const base = ['template', 'mlp', chart, '--kube-version', KUBE_VERSION, '-f', join(profilesDir, 'self-hosted.yaml')];
    const typo = runHelm([...base, '--set', 'temporal.adress=temporal:7233']);
    assert.notEqual(typo.status, 0);
    assert.match(typo.output, /at '\/temporal': additional properties 'adress' not allowed/);
    const noGraphics = runHelm([...base, '--set', 'workers.gpu.driverCapabilities=compute\\,utility']);
    assert.notEqual(noGraphics.status, 0);
    assert.match(noGraphics.output, /\/workers\/gpu\/driverCapabilities/);
  });

  it('keeps every secret out of values: the chart and profiles hold Secret names only', () => {
    const texts = [join(chart, 'values.yaml'), ...profiles.map((profile) => join(profilesDir, profile)), join(root, 'deploy/helm/temporal-postgres.values.yaml')].map((file) =>
      readFileSync(file, 'utf8'),
    );
    for (const text of texts) assert.doesNotMatch(text, /^\s*(password|apiKey|secretAccessKey|accessKeyId|token)\s*:\s*\S/m);
  });
});
