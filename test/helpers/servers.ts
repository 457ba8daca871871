import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageConfig } from '../../common/index.ts';
import { resolveS3Binary, resolveTemporalBinary, s3ServerKind } from '../../client/servers/binaries.ts';
import {
  ensureBucket,
  freePort,
  s3Healthy,
  s3ServerCommand,
  spawnServer,
  stopProcessGroup,
  temporalDevServerCommand,
  temporalHealthy,
  waitUntilHealthy,
  type SpawnedServer,
} from '../../client/servers/launch.ts';

/**
 * Integration-test harness: the real Temporal dev server (in memory, headless) and the real S3
 * server on free ports in a temp folder. Binaries are found like the stack finds them
 * (MLP_TEMPORAL_BIN / MLP_S3_SERVER_BIN → .tools/bin → PATH).
 */

export interface TestServers {
  /** `host:port` of the Temporal frontend. */
  temporalAddress: string;
  namespace: string;
  /** Credentials and a fresh, unique, empty bucket. */
  storage: StorageConfig;
  /** Temp folder holding server data and logs (removed by `stop`). */
  dir: string;
  /** Server logs, for debugging a failed test. */
  logs: { temporal: string; s3: string };
  /** Process ids (each leads its own process group), e.g. for fault tests that kill a server. */
  pids: { temporal: number; s3: number };
  /** Kills both servers (and their children) and removes the temp folder. Safe to call twice. */
  stop(): Promise<void>;
}

export interface TestServerOptions {
  /** Prefix of the bucket name; a random suffix makes it unique. @default 'test' */
  bucketPrefix?: string;
  /** Keep the temp folder after `stop` (e.g. to read logs). @default false */
  keepDir?: boolean;
  /** @default 60_000 */
  startTimeoutMs?: number;
}

const HOST = '127.0.0.1';

/** Servers still running, killed on process exit so a crashed test run leaves no orphans. */
const running = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of running) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
}

/** Starts both servers, waits for health, creates a unique bucket. Call `stop()` in `after`. */
export async function startTestServers(options: TestServerOptions = {}): Promise<TestServers> {
  const kind = s3ServerKind(undefined);
  const [temporalBinary, s3Binary] = await Promise.all([resolveTemporalBinary(), resolveS3Binary(kind)]);
  const dir = mkdtempSync(join(tmpdir(), 'mlp-test-'));
  const s3Data = join(dir, 's3');
  mkdirSync(s3Data);
  const logs = { temporal: join(dir, 'temporal.log'), s3: join(dir, 's3.log') };
  const started: SpawnedServer[] = [];
  installExitHook();

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(
      started.map(async (server) => {
        await stopProcessGroup(server.pid);
        await server.exited; // reaped, so the pid no longer exists at all
      }),
    );
    for (const server of started) running.delete(server.pid);
    if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [temporalPort, s3Port] = [await freePort(HOST), await freePort(HOST)];
    const temporalAddress = `${HOST}:${temporalPort}`;
    const storage: StorageConfig = {
      endpoint: `http://${HOST}:${s3Port}`,
      region: 'us-east-1',
      bucket: `${options.bucketPrefix ?? 'test'}-${randomUUID().slice(0, 8)}`,
      accessKeyId: `test${randomBytes(6).toString('hex')}`,
      secretAccessKey: randomBytes(24).toString('base64url'),
    };

    const temporal = spawnServer(temporalDevServerCommand({ binary: temporalBinary.path, host: HOST, port: temporalPort }), {
      name: 'Temporal dev server',
      logFile: logs.temporal,
      cwd: dir,
    });
    started.push(temporal);
    running.add(temporal.pid);
    const s3 = spawnServer(
      s3ServerCommand({ kind, binary: s3Binary.path, host: HOST, port: s3Port, dataDir: s3Data, ...storage }),
      { name: `S3 server (${kind})`, logFile: logs.s3, cwd: dir },
    );
    started.push(s3);
    running.add(s3.pid);

    const timeoutMs = options.startTimeoutMs ?? 60_000;
    await Promise.all([
      waitUntilHealthy(`Temporal dev server at ${temporalAddress}`, () => temporalHealthy(temporalAddress), { server: temporal, timeoutMs }),
      waitUntilHealthy(`S3 server at ${storage.endpoint}`, () => s3Healthy(storage.endpoint, kind), { server: s3, timeoutMs }),
    ]);
    await ensureBucket(storage);
    return { temporalAddress, namespace: 'default', storage, dir, logs, pids: { temporal: temporal.pid, s3: s3.pid }, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
