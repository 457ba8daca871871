import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { WebhookUrlResolver } from '../activities/notify/webhook.ts';
import {
  ConfigError,
  DEFAULT_TASK_QUEUE_PREFIX,
  QUEUE_KINDS,
  securityFrom,
  taskQueuePrefixSchema,
  temporalSecurityEnvShape,
  type StorageConfig,
  type TemporalSecurity,
} from '../common/index.ts';
import { readSecretVariable } from '../common/secret-variable.ts';
import { BUILD_ID_PATTERN, DEFAULT_DEPLOYMENT_NAME, DEPLOYMENT_NAME_PATTERN, SET_CURRENT_POLICIES, type SetCurrentPolicy } from '../common/worker-deployment.ts';
import type { RunStepSettings } from '../activities/deps.ts';
import type { MlflowSettings } from '../activities/tracking/mlflow-client.ts';
import { createWebhookUrlResolver } from './webhook-urls.ts';

/** What a worker process runs; see MLP_WORKER_ROLE. */
export const WORKER_ROLES = ['all', 'workflows', 'activities'] as const;

const DURATION_UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `30s`, `1.5m`, `500ms`, `0` → milliseconds; undefined when it is not such a duration. */
function durationMs(value: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) return undefined;
  const unit = match[2] === 'ms' || match[2] === 's' || match[2] === 'm' || match[2] === 'h' ? match[2] : 'ms';
  return Number(match[1]) * DURATION_UNIT_MS[unit];
}

/** A ms-style duration variable (`30s`, `2m`, `500ms`, `0`), in milliseconds. */
function durationVariable(fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((value, context) => {
      const ms = durationMs(value);
      if (ms === undefined) context.addIssue({ code: 'custom', message: `expected a duration such as 30s or 2m, got "${value}"` });
      return ms ?? 0;
    });
}

/**
 * An optional variable where empty means unset: compose passes `${NAME:-}` through from the host
 * as an empty string when the host has none, and that must mean "off", not a bad value.
 */
function emptyMeansUnset<Schema extends z.ZodType>(schema: Schema) {
  return z.preprocess((value) => (value === '' ? undefined : value), schema);
}

/**
 * Every environment variable a worker reads, in one schema. The compose-file test checks the
 * worker services against this list, so a typo in docker-compose.yml fails CI.
 *
 * Secrets may be given inline (`S3_SECRET_ACCESS_KEY`) or, preferred in containers, as a file
 * path (`S3_SECRET_ACCESS_KEY_FILE`, e.g. a Docker secret).
 */
export const workerEnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** TLS, mTLS and API key (common/temporal-security.ts): the `temporal` CLI's variable names. */
  ...temporalSecurityEnvShape,
  /**
   * Prefix of the task queues (`<prefix>-cpu`, `<prefix>-gpu`): one per environment sharing a
   * namespace. Clients must start runs with the same prefix; it travels in the run's options.
   */
  MLP_TASK_QUEUE_PREFIX: taskQueuePrefixSchema.default(DEFAULT_TASK_QUEUE_PREFIX),
  /** Comma-separated logical queues this worker polls: `cpu`, `gpu` or `cpu,gpu`. */
  MLP_WORKER_QUEUES: z
    .string()
    .default('cpu')
    .transform((value) => value.split(',').map((part) => part.trim()).filter(Boolean))
    .pipe(z.array(z.enum(QUEUE_KINDS)).min(1)),
  /**
   * What this process runs: `workflows` (workflow tasks and queries only), `activities` (the
   * steps of MLP_WORKER_QUEUES only) or `all` (both in one process). Training blocks the JS
   * thread for a whole batch, so keep workflows in their own process (`mlp worker` does).
   */
  MLP_WORKER_ROLE: z.enum(WORKER_ROLES).default('all'),
  /**
   * After SIGTERM/SIGINT/SIGHUP, how long running activities may take to finish before they are
   * cancelled (ms-style: `30s`, `2m`; `0` cancels at once). Keep below the supervisor's kill timeout.
   */
  MLP_SHUTDOWN_GRACE_TIME: durationVariable('30s'),
  /** Training engine: `auto` picks the best one available on this machine. */
  MLP_ENGINE: z.enum(['auto', 'webgpu', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu']).default('auto'),
  /**
   * `true`: refuse to start when MLP_ENGINE cannot run here instead of falling back to the next
   * engine. A GPU worker sets it, so a pod without a usable GPU fails at start with the reason
   * rather than training on its CPU.
   */
  MLP_ENGINE_STRICT: z.enum(['true', 'false'], { message: 'expected true or false' }).default('false').transform((value) => value === 'true'),
  /**
   * Most activities this process runs at once (the SDK's default is 100). A GPU worker sets 1:
   * one training step per GPU, and autoscaling on the queue backlog then means one pod per step.
   */
  MLP_MAX_CONCURRENT_ACTIVITIES: z
    .string()
    .regex(/^[1-9]\d*$/, 'expected a positive whole number')
    .transform(Number)
    .optional(),
  /** Local scratch space for downloads and extraction. */
  MLP_SCRATCH_DIR: z.string().min(1).default('.data/scratch'),
  /**
   * Scratch space of `run` steps: the unpacked code of each sha256 (kept, shared by steps) and
   * each attempt's folders (inputs, outputs, checkpoints, home, tmp; removed when it ends).
   * @default <os.tmpdir()>/mlp-run
   */
  MLP_RUN_DIR: z.string().min(1).optional(),
  /** Python virtual environments of `run` steps, one per (Python version, requirements). @default <MLP_RUN_DIR>/envs */
  MLP_RUN_ENVS_DIR: z.string().min(1).optional(),
  /**
   * Least time between two uploads of a `run` step's changed $MLP_CHECKPOINTS while its command
   * runs (it is saved once more when the command exits). Tests set it lower.
   */
  MLP_RUN_CHECKPOINT_INTERVAL: durationVariable('30s'),
  /** The Python run steps with `python:` build their environments from. */
  MLP_RUN_PYTHON: z.string().min(1).default('python3'),
  /** Passed on to run steps' commands (their only variables from the worker's environment). */
  PATH: z.string().optional(),
  LANG: z.string().optional(),
  /** Version of the deployed code (e.g. the git commit), recorded with every published model. */
  MLP_CODE_VERSION: z.string().min(1).optional(),
  /**
   * Worker Versioning (docs/production.md, "Upgrading workers"): `on` joins the worker deployment
   * MLP_DEPLOYMENT_NAME as build MLP_BUILD_ID, so a run finishes on the build it started on; `off`
   * polls unversioned. All workers of one task-queue prefix must agree.
   */
  MLP_WORKER_VERSIONING: z.enum(['on', 'off'], { message: 'expected on or off' }).default('on'),
  /** @default TEMPORAL_DEPLOYMENT_NAME, else ml-pipelines */
  MLP_DEPLOYMENT_NAME: z.string().regex(DEPLOYMENT_NAME_PATTERN, 'expected letters, digits, - and _ (at most 255)').optional(),
  /**
   * The build this worker runs. @default MLP_CODE_VERSION when it names a clean commit, else that
   * version plus a fingerprint of the worker's code (a dirty tree or an unknown version gets an ID
   * of its own per content): worker/build-id.ts
   */
  MLP_BUILD_ID: z.string().regex(BUILD_ID_PATTERN, 'expected letters, digits, ., - and _ (at most 255), no ":"').optional(),
  /**
   * `if-none`: make this build the deployment's current version when none is (a first install);
   * `always`: make it current at start (`mlp worker`); `never`: leave routing to `mlp deploy` or a
   * Worker Controller.
   */
  MLP_DEPLOYMENT_SET_CURRENT: z.enum(SET_CURRENT_POLICIES).default('if-none'),
  /**
   * What Temporal's Worker Controller injects into the pods it runs (docs/production.md): read
   * when MLP_DEPLOYMENT_NAME / MLP_BUILD_ID are not set, so a controller-managed pod reports the
   * version the controller routes.
   */
  TEMPORAL_DEPLOYMENT_NAME: z.string().regex(DEPLOYMENT_NAME_PATTERN, 'expected letters, digits, - and _ (at most 255)').optional(),
  TEMPORAL_WORKER_BUILD_ID: z.string().regex(BUILD_ID_PATTERN, 'expected letters, digits, ., - and _ (at most 255), no ":"').optional(),
  MLP_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  /** The Temporal Web UI, e.g. https://temporal.example: run notifications (`notify:`) link to the run there; no link when unset. */
  MLP_TEMPORAL_UI_URL: emptyMeansUnset(z.url().optional()),
  /**
   * The MLflow tracking server of pipelines with `tracking.mlflow` (docs/tracking.md), e.g.
   * http://mlflow:5000; its credentials, when it wants any: a token (inline or _FILE) or a user
   * name and password. They stay on the worker: never in a pipeline, a history or a log line.
   * Empty is unset (tracking off), as docker-compose.yml passes them when the host has none.
   */
  MLFLOW_TRACKING_URI: emptyMeansUnset(z.url().optional()),
  MLFLOW_TRACKING_TOKEN: emptyMeansUnset(z.string().optional()),
  MLFLOW_TRACKING_TOKEN_FILE: emptyMeansUnset(z.string().optional()),
  MLFLOW_TRACKING_USERNAME: emptyMeansUnset(z.string().optional()),
  MLFLOW_TRACKING_PASSWORD: emptyMeansUnset(z.string().optional()),
  S3_ENDPOINT: z.url().default('http://127.0.0.1:9000'),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: z.string().min(3).default('ml-pipelines'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_ACCESS_KEY_ID_FILE: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY_FILE: z.string().min(1).optional(),
});

export type WorkerEnv = z.infer<typeof workerEnvSchema>;
export type WorkerRole = (typeof WORKER_ROLES)[number];

/** The worker's configuration, normalized once at start and passed into `createActivities`. */
export interface WorkerConfig {
  temporal: { address: string; namespace: string; taskQueuePrefix: string; security: TemporalSecurity };
  queues: WorkerEnv['MLP_WORKER_QUEUES'];
  role: WorkerRole;
  /** Grace period for running activities after a shutdown signal, in ms. */
  shutdownGraceMs: number;
  engine: WorkerEnv['MLP_ENGINE'];
  /** Most activities at once; the SDK's default when absent. */
  maxConcurrentActivities?: number;
  /** Fail instead of falling back when `engine` cannot run here. */
  engineStrict: boolean;
  scratchDir: string;
  /** Where `run` steps unpack code and keep their attempts' folders and Python environments. */
  run: RunStepSettings;
  codeVersion?: string;
  /** The worker deployment and build this worker joins; absent when versioning is off. */
  deployment?: WorkerDeploymentConfig;
  logLevel: WorkerEnv['MLP_LOG_LEVEL'];
  storage: StorageConfig;
  /** Base URL of the Temporal Web UI without a trailing slash, for links in run notifications. */
  temporalUiUrl?: string;
  /** The MLflow tracking server and its credentials (MLFLOW_TRACKING_*); absent when unset. */
  mlflow?: MlflowSettings;
  /**
   * Resolves a `notify:` webhook's `urlFrom` against the environment the worker started with (any
   * variable a pipeline names, so not part of the schema above) or a file.
   */
  resolveWebhookUrl: WebhookUrlResolver;
}

export interface WorkerDeploymentConfig {
  name: string;
  /** MLP_BUILD_ID; when absent the worker derives one from its code (worker/build-id.ts). */
  buildId?: string;
  setCurrent: SetCurrentPolicy;
}

function deploymentConfig(env: WorkerEnv): WorkerDeploymentConfig | undefined {
  if (env.MLP_WORKER_VERSIONING === 'off') return undefined;
  return {
    name: env.MLP_DEPLOYMENT_NAME ?? env.TEMPORAL_DEPLOYMENT_NAME ?? DEFAULT_DEPLOYMENT_NAME,
    setCurrent: env.MLP_DEPLOYMENT_SET_CURRENT,
    ...optional('buildId', env.MLP_BUILD_ID ?? env.TEMPORAL_WORKER_BUILD_ID),
  };
}

/** Names of all variables the worker understands (for the compose test and `--help`). */
export const WORKER_ENV_KEYS: readonly string[] = Object.keys(workerEnvSchema.shape);

function secret(env: WorkerEnv, name: 'S3_ACCESS_KEY_ID' | 'S3_SECRET_ACCESS_KEY'): string {
  const value = readSecretVariable(env, name, readUtf8);
  if (value === undefined) throw new ConfigError(`Missing ${name} (or ${name}_FILE): the worker needs object-store credentials`);
  return value;
}

function readUtf8(path: string): string {
  return readFileSync(path, 'utf8');
}

/** MLFLOW_TRACKING_*: the server and one way to authenticate (a token, inline or in a file, or user and password). */
function mlflowConfig(env: WorkerEnv): MlflowSettings | undefined {
  const uri = env.MLFLOW_TRACKING_URI;
  const credentials = ['MLFLOW_TRACKING_TOKEN', 'MLFLOW_TRACKING_TOKEN_FILE', 'MLFLOW_TRACKING_USERNAME', 'MLFLOW_TRACKING_PASSWORD'] as const;
  if (uri === undefined) {
    const stray = credentials.filter((name) => env[name] !== undefined);
    if (stray.length > 0) throw new ConfigError(`${stray.join(', ')} set without MLFLOW_TRACKING_URI`);
    return undefined;
  }
  const token = readSecretVariable(env, 'MLFLOW_TRACKING_TOKEN', readUtf8);
  if ((env.MLFLOW_TRACKING_USERNAME === undefined) !== (env.MLFLOW_TRACKING_PASSWORD === undefined)) {
    throw new ConfigError('Set both MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or neither');
  }
  if (token !== undefined && env.MLFLOW_TRACKING_USERNAME !== undefined) throw new ConfigError('Set either MLFLOW_TRACKING_TOKEN (or _FILE) or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, not both');
  return {
    uri,
    ...(token === undefined ? {} : { token }),
    ...(env.MLFLOW_TRACKING_USERNAME === undefined ? {} : { username: env.MLFLOW_TRACKING_USERNAME, password: env.MLFLOW_TRACKING_PASSWORD ?? '' }),
  };
}

const DEFAULT_COMMAND_PATH = '/usr/local/bin:/usr/bin:/bin';

function runConfig(env: WorkerEnv): RunStepSettings {
  const runDir = env.MLP_RUN_DIR ?? join(tmpdir(), 'mlp-run');
  return {
    runDir,
    envsDir: env.MLP_RUN_ENVS_DIR ?? join(runDir, 'envs'),
    checkpointIntervalMs: env.MLP_RUN_CHECKPOINT_INTERVAL,
    commandPath: env.PATH ?? DEFAULT_COMMAND_PATH,
    lang: env.LANG ?? 'C.UTF-8',
    basePython: env.MLP_RUN_PYTHON,
  };
}

function mlflowOption(env: WorkerEnv): { mlflow?: MlflowSettings } {
  const mlflow = mlflowConfig(env);
  return mlflow === undefined ? {} : { mlflow };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Parses the process environment; throws `ConfigError` naming every bad variable. */
export function parseWorkerConfig(env: NodeJS.ProcessEnv): WorkerConfig {
  const parsed = workerEnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid worker environment:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  return {
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueuePrefix: e.MLP_TASK_QUEUE_PREFIX,
      security: securityFrom(e, (file) => readFileSync(file)),
    },
    queues: e.MLP_WORKER_QUEUES,
    role: e.MLP_WORKER_ROLE,
    shutdownGraceMs: e.MLP_SHUTDOWN_GRACE_TIME,
    engine: e.MLP_ENGINE,
    engineStrict: e.MLP_ENGINE_STRICT,
    ...(e.MLP_MAX_CONCURRENT_ACTIVITIES !== undefined ? { maxConcurrentActivities: e.MLP_MAX_CONCURRENT_ACTIVITIES } : {}),
    scratchDir: e.MLP_SCRATCH_DIR,
    run: runConfig(e),
    ...(e.MLP_CODE_VERSION ? { codeVersion: e.MLP_CODE_VERSION } : {}),
    ...optional('deployment', deploymentConfig(e)),
    logLevel: e.MLP_LOG_LEVEL,
    ...(e.MLP_TEMPORAL_UI_URL ? { temporalUiUrl: e.MLP_TEMPORAL_UI_URL.replace(/\/+$/, '') } : {}),
    resolveWebhookUrl: createWebhookUrlResolver(env),
    ...mlflowOption(e),
    storage: {
      endpoint: e.S3_ENDPOINT,
      region: e.S3_REGION,
      bucket: e.S3_BUCKET,
      accessKeyId: secret(e, 'S3_ACCESS_KEY_ID'),
      secretAccessKey: secret(e, 'S3_SECRET_ACCESS_KEY'),
    },
  };
}
