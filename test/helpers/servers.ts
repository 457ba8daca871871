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
  /**
   * Fault tests: SIGKILLs one server (its whole process group) and waits until it is gone.
   * Temporal keeps its state only with `persistTemporal`.
   */
  kill(server: 'temporal' | 's3'): Promise<void>;
  /** Starts a killed server again on the same port and data (S3 folder, Temporal SQLite file) and waits for health. */
  restart(server: 'temporal' | 's3'): Promise<void>;
}

export interface TestServerOptions {
  /** Prefix of the bucket name; a random suffix makes it unique. @default 'test' */
  bucketPrefix?: string;
  /** Keep the temp folder after `stop` (e.g. to read logs). @default false */
  keepDir?: boolean;
  /** @default 60_000 */
  startTimeoutMs?: number;
  /** Keep Temporal's state in a SQLite file in the temp folder, so a killed server restarts with it. @default false (in memory) */
  persistTemporal?: boolean;
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
/**
 * Starts the servers, once more with fresh ports when a port was taken first: ports are picked
 * free, but the Temporal dev server also picks its own HTTP API port, and another process of a
 * busy machine can bind either before the server does (`bind: address already in use`).
 */
export async function startTestServers(options: TestServerOptions = {}): Promise<TestServers> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startTestServersOnce(options);
    } catch (error) {
      if (attempt >= 3 || !(error instanceof Error) || !error.message.includes('address already in use')) throw error;
    }
  }
}

async function startTestServersOnce(options: TestServerOptions): Promise<TestServers> {
  const kind = s3ServerKind(undefined);
  const [temporalBinary, s3Binary] = await Promise.all([resolveTemporalBinary(), resolveS3Binary(kind)]);
  const dir = mkdtempSync(join(tmpdir(), 'mlp-test-'));
  const s3Data = join(dir, 's3');
  mkdirSync(s3Data);
  const logs = { temporal: join(dir, 'temporal.log'), s3: join(dir, 's3.log') };
  const started: SpawnedServer[] = [];
  installExitHook();

  const current: { temporal?: SpawnedServer; s3?: SpawnedServer } = {};
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(
      started.map(async (server) => {
        if (!server.hasExited()) await stopProcessGroup(server.pid);
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

    const dbFile = options.persistTemporal ? join(dir, 'temporal.sqlite') : undefined;
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    const launch = async (which: 'temporal' | 's3'): Promise<SpawnedServer> => {
      const server =
        which === 'temporal'
          ? spawnServer(temporalDevServerCommand({ binary: temporalBinary.path, host: HOST, port: temporalPort, ...(dbFile ? { dbFile } : {}) }), {
              name: 'Temporal dev server',
              logFile: logs.temporal,
              cwd: dir,
            })
          : spawnServer(s3ServerCommand({ kind, binary: s3Binary.path, host: HOST, port: s3Port, dataDir: s3Data, ...storage }), {
              name: `S3 server (${kind})`,
              logFile: logs.s3,
              cwd: dir,
            });
      started.push(server);
      running.add(server.pid);
      current[which] = server;
      await (which === 'temporal'
        ? waitUntilHealthy(`Temporal dev server at ${temporalAddress}`, () => temporalHealthy(temporalAddress), { server, timeoutMs })
        : waitUntilHealthy(`S3 server at ${storage.endpoint}`, () => s3Healthy(storage.endpoint, kind), { server, timeoutMs }));
      return server;
    };
    const [temporal, s3] = await Promise.all([launch('temporal'), launch('s3')]);
    await ensureBucket(storage);
    const kill = async (which: 'temporal' | 's3'): Promise<void> => {
      const server = current[which];
      if (server === undefined || server.hasExited()) return;
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      await server.exited;
      running.delete(server.pid);
    };
    const restart = async (which: 'temporal' | 's3'): Promise<void> => {
      if (current[which]?.hasExited() === false) throw new Error(`${which} is still running: kill it first`);
      await launch(which);
    };
    return { temporalAddress, namespace: 'default', storage, dir, logs, pids: { temporal: temporal.pid, s3: s3.pid }, stop, kill, restart };
  } catch (error) {
    await stop();
    throw error;
  }
}
