import type { StorageConfig } from '../../common/index.ts';
import { startServerPair } from './server-pair.ts';
import { openSharedView, sharingTestServers } from './shared-servers.ts';

/**
 * Integration-test harness: the real Temporal dev server and the real S3 server. Under mocha
 * (test/setup.ts) every test gets a view of one pair shared by the whole run, isolated by a
 * namespace and a bucket of its own; a test that kills, restarts or persists a server gets a
 * pair of its own. Outside mocha (scripts) every call starts a pair of its own.
 */

export interface TestServers {
  /** `host:port` of the Temporal frontend. */
  temporalAddress: string;
  /**
   * A namespace of this test's own (with the project search attributes) on shared servers, so
   * listing runs, models or schedules sees only this test's; `default` on servers of its own.
   * Pass it on: `--namespace` for `mlp` and `temporal`, TEMPORAL_NAMESPACE for workers.
   */
  namespace: string;
  /** Credentials and a fresh, unique, empty bucket. */
  storage: StorageConfig;
  /** Temp folder of this test, for its data and logs (removed by `stop`). */
  dir: string;
  /** Server logs, for debugging a failed test. */
  logs: { temporal: string; s3: string };
  /** Process ids (each leads its own process group); only servers of its own may be killed. */
  pids: { temporal: number; s3: number };
  /**
   * Removes this test's bucket and temp folder, and ends the schedules and runs it left open;
   * kills the servers when they are its own. Safe to call twice.
   */
  stop(): Promise<void>;
  /**
   * Fault tests: SIGKILLs one server (its whole process group) and waits until it is gone.
   * Temporal keeps its state only with `persistTemporal`. Needs servers of its own (`exclusive`).
   */
  kill(server: 'temporal' | 's3'): Promise<void>;
  /** Starts a killed server again on the same port and data (S3 folder, Temporal SQLite file) and waits for health. */
  restart(server: 'temporal' | 's3'): Promise<void>;
}

export interface TestServerOptions {
  /** Prefix of the bucket (and shared-server namespace) name; a random suffix makes it unique. @default 'test' */
  bucketPrefix?: string;
  /** Keep the temp folder after `stop` (e.g. to read logs). @default false */
  keepDir?: boolean;
  /** @default 60_000 */
  startTimeoutMs?: number;
  /**
   * Keep Temporal's state in a SQLite file in the temp folder, so a killed server restarts with
   * it. Implies `exclusive`. @default false (in memory)
   */
  persistTemporal?: boolean;
  /** Servers of this test's own, e.g. to kill or restart one. @default false (a view of the run's shared pair) */
  exclusive?: boolean;
  /** Dynamic config of the Temporal dev server on top of the project's (client/servers/launch.ts). Implies `exclusive`. */
  temporalDynamicConfig?: Record<string, string | number | boolean>;
}

/**
 * Servers for one test file: call in `before`, and `stop()` in `after`. Starts the run's shared
 * pair on first use (mocha's root hook stops it after the last test).
 */
export async function startTestServers(options: TestServerOptions = {}): Promise<TestServers> {
  if (options.exclusive || options.persistTemporal || options.temporalDynamicConfig || !sharingTestServers()) return startServerPair(options);
  return openSharedView(options);
}

/** The worker's object-storage variables (worker/config.ts) for a test's bucket on these servers. */
export function workerStorageEnv(storage: StorageConfig): Record<string, string> {
  return {
    S3_ENDPOINT: storage.endpoint,
    S3_REGION: storage.region,
    S3_BUCKET: storage.bucket,
    S3_ACCESS_KEY_ID: storage.accessKeyId,
    S3_SECRET_ACCESS_KEY: storage.secretAccessKey,
  };
}

/**
 * The environment of a worker process on these servers, configured as a user configures one:
 * Temporal and the test's namespace, the task-queue prefix, both queues, the wasm engine, a
 * scratch folder and the object storage; `extra` adds variables or overrides these.
 */
export function testWorkerEnv(
  servers: TestServers,
  options: { prefix: string; scratchDir: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: servers.temporalAddress,
    TEMPORAL_NAMESPACE: servers.namespace,
    MLP_TASK_QUEUE_PREFIX: options.prefix,
    MLP_WORKER_QUEUES: 'cpu,gpu',
    MLP_ENGINE: 'wasm',
    MLP_SCRATCH_DIR: options.scratchDir,
    ...workerStorageEnv(servers.storage),
    ...extra,
  };
}
