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
import type { TestServerOptions, TestServers } from './servers.ts';

/**
 * A Temporal dev server (in memory, headless, or in a SQLite file) and an S3 server of their
 * own on free ports in a temp folder, killed and removed by `stop`: what `startTestServers` hands
 * out whole to a test that needs servers to itself, and shares as one pair across a mocha run.
 * Binaries are found like the stack finds them (MLP_TEMPORAL_BIN / MLP_S3_SERVER_BIN →
 * .tools/bin → PATH).
 */

const HOST = '127.0.0.1';

/** Where the S3 server of the pair in `dir` keeps its buckets, one folder each. */
export function s3DataDir(dir: string): string {
  return join(dir, 's3');
}

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

/**
 * Starts both servers, waits for health and creates a unique bucket; once more with fresh ports
 * when a port was taken first: ports are picked free, but the Temporal dev server also picks its
 * own HTTP API port, and another process of a busy machine can bind either before the server
 * does (`bind: address already in use`).
 */
export async function startServerPair(options: TestServerOptions = {}): Promise<TestServers> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerPairOnce(options);
    } catch (error) {
      if (attempt >= 3 || !(error instanceof Error) || !error.message.includes('address already in use')) throw error;
    }
  }
}

async function startServerPairOnce(options: TestServerOptions): Promise<TestServers> {
  const kind = s3ServerKind(undefined);
  const [temporalBinary, s3Binary] = await Promise.all([resolveTemporalBinary(), resolveS3Binary(kind)]);
  const dir = mkdtempSync(join(tmpdir(), 'mlp-test-'));
  const s3Data = s3DataDir(dir);
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
          ? spawnServer(temporalDevServerCommand({
                binary: temporalBinary.path,
                host: HOST,
                port: temporalPort,
                ...(dbFile ? { dbFile } : {}),
                ...(options.temporalDynamicConfig ? { dynamicConfig: options.temporalDynamicConfig } : {}),
              }), {
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
