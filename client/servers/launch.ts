import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { Client as S3Client, S3Error } from 'minio';
import { SEARCH_ATTRIBUTES, ServerStartError, type StorageConfig } from '../../common/index.ts';
import { s3ClientOptions } from '../../common/storage-config.ts';

/**
 * Spawning, health checks and stopping of the two real servers, shared by the integration-test
 * harness (test/helpers/servers.ts) and the local stack (client/stack/). Nothing here knows
 * where state lives: callers pass folders, ports and binaries in.
 */

/** Which S3 server to run: versitygw (built by `mlp servers install`) or a user's MinIO. */
export type S3ServerKind = 'versitygw' | 'minio';

/** A command line ready to spawn. */
export interface ServerCommand {
  command: string;
  args: string[];
  /** Extra environment on top of the parent's. */
  env?: Record<string, string>;
}

export interface TemporalDevServerOptions {
  binary: string;
  host: string;
  port: number;
  /** Web UI port; `undefined` runs headless. */
  uiPort?: number;
  /** SQLite file for persistence; `undefined` keeps everything in memory. */
  dbFile?: string;
  /** Namespaces besides `default` (which the dev server always creates). */
  namespaces?: string[];
  /** @default 'warn' */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** More dynamic config (`--dynamic-config-value key=value`), e.g. a test's short drainage refresh. */
  dynamicConfig?: Record<string, string | number | boolean>;
}

/** `temporal server start-dev` with the project's custom search attributes registered at start. */
export function temporalDevServerCommand(options: TemporalDevServerOptions): ServerCommand {
  const args = ['server', 'start-dev', '--ip', options.host, '--port', String(options.port)];
  if (options.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort));
  if (options.dbFile !== undefined) args.push('--db-filename', options.dbFile);
  for (const namespace of options.namespaces ?? []) args.push('--namespace', namespace);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  // Eager activity dispatch: a step's activity goes back to the worker that completed the workflow
  // task in the same response, skipping a task-queue round trip per step.
  args.push('--dynamic-config-value', 'system.enableActivityEagerExecution=true');
  // Values are JSON: a duration is a string ("1s"), which must arrive quoted.
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {})) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  args.push('--log-format', 'json', '--log-level', options.logLevel ?? 'warn');
  return { command: options.binary, args };
}

export interface S3ServerOptions {
  kind: S3ServerKind;
  binary: string;
  host: string;
  port: number;
  dataDir: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Health path each S3 server answers with 200 once it serves requests. */
export const S3_HEALTH_PATH: Record<S3ServerKind, string> = {
  versitygw: '/health',
  minio: '/minio/health/live',
};

/** The S3 server's command line; credentials go through the environment so `ps` does not show them. */
export function s3ServerCommand(options: S3ServerOptions): ServerCommand {
  const address = `${options.host}:${options.port}`;
  if (options.kind === 'minio') {
    return {
      command: options.binary,
      args: ['server', options.dataDir, '--address', address, '--quiet'],
      env: { MINIO_ROOT_USER: options.accessKeyId, MINIO_ROOT_PASSWORD: options.secretAccessKey, MINIO_BROWSER: 'off' },
    };
  }
  return {
    command: options.binary,
    // Keep-alive: without it versitygw closes the connection after every request.
    args: ['--port', address, '--health', S3_HEALTH_PATH.versitygw, '--quiet', '--keep-alive', 'posix', options.dataDir],
    env: { ROOT_ACCESS_KEY_ID: options.accessKeyId, ROOT_SECRET_ACCESS_KEY: options.secretAccessKey },
  };
}

/** A port the OS reports free right now on `host` (another process may still take it later). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`Cannot find a free port on ${host}`))));
    });
  });
}

/** A server process started by `spawnServer`. */
export interface SpawnedServer {
  name: string;
  pid: number;
  logFile: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** Whether the process has ended. */
  hasExited(): boolean;
}

export interface SpawnOptions {
  /** Human name used in messages, e.g. `Temporal dev server`. */
  name: string;
  /** stdout and stderr are appended here, so a failure can show what the server said. */
  logFile: string;
  cwd?: string;
  /**
   * Let the server outlive this Node process (the local stack). The harness keeps the default
   * so the servers are still reaped with their own process group.
   * @default false
   */
  detach?: boolean;
}

/**
 * Spawns a server as the leader of its own process group, so `stopProcessGroup` also reaches
 * anything it forks.
 */
export function spawnServer(command: ServerCommand, options: SpawnOptions): SpawnedServer {
  const log = openSync(options.logFile, 'a');
  let exitedFlag = false;
  try {
    const child = spawn(command.command, command.args, {
      cwd: options.cwd,
      env: { ...process.env, ...command.env },
      stdio: ['ignore', log, log],
      detached: true,
    });
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => {
        exitedFlag = true;
        resolve(code ?? signal ?? 'unknown');
      });
      child.once('error', (error) => {
        exitedFlag = true;
        resolve(error.message);
      });
    });
    if (child.pid === undefined) {
      throw new ServerStartError(`Cannot start ${options.name}: spawn ${command.command} returned no pid (see ${options.logFile})`);
    }
    if (options.detach) child.unref();
    return { name: options.name, pid: child.pid, logFile: options.logFile, exited, hasExited: () => exitedFlag };
  } finally {
    closeSync(log);
  }
}

/** The last lines of a log file, for error messages. */
export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface WaitOptions {
  /** @default 60_000 */
  timeoutMs?: number;
  /** @default 200 */
  intervalMs?: number;
  /** Fail at once, with its log, when this process ends while we wait. */
  server?: SpawnedServer;
}

/** Polls `check` until it returns true; throws `ServerStartError` on timeout or early exit. */
export async function waitUntilHealthy(what: string, check: () => Promise<boolean>, options: WaitOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (options.server?.hasExited()) {
      const code = await options.server.exited;
      throw new ServerStartError(
        `${what} exited (${code}) before becoming healthy; last log lines of ${options.server.logFile}:\n${logTail(options.server.logFile)}`,
      );
    }
    if (await check()) return;
    if (Date.now() > deadline) {
      const log = options.server ? `; last log lines of ${options.server.logFile}:\n${logTail(options.server.logFile)}` : '';
      throw new ServerStartError(`${what} did not become healthy within ${Math.round(timeoutMs / 1000)}s${log}`);
    }
    await sleep(options.intervalMs ?? 200);
  }
}

/** True when the Temporal frontend at `address` answers and `namespace` is registered. */
export async function temporalHealthy(address: string, namespace = 'default'): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: '2s' });
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** Names of the project's custom search attributes that the server at `address` lacks. */
export async function missingSearchAttributes(address: string, namespace = 'default'): Promise<string[]> {
  const connection = await Connection.connect({ address, connectTimeout: '2s' });
  try {
    const response = await connection.operatorService.listSearchAttributes({ namespace });
    const present = new Set(Object.keys(response.customAttributes ?? {}));
    return Object.keys(SEARCH_ATTRIBUTES).filter((name) => !present.has(name));
  } finally {
    await connection.close();
  }
}

/** True when nothing listens on `host:port` right now. */
export async function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** True when `url` answers HTTP 2xx within two seconds. */
export async function httpHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** True when the S3 server at `endpoint` reports itself healthy. */
export async function s3Healthy(endpoint: string, kind: S3ServerKind): Promise<boolean> {
  return httpHealthy(new URL(S3_HEALTH_PATH[kind], endpoint).toString());
}

/** Creates `storage.bucket` with plain S3 calls unless it exists already. */
export async function ensureBucket(storage: StorageConfig): Promise<void> {
  const client = new S3Client(s3ClientOptions(storage));
  if (await client.bucketExists(storage.bucket)) return;
  try {
    await client.makeBucket(storage.bucket, storage.region);
  } catch (error) {
    if (error instanceof S3Error && ['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(error.code ?? '')) return;
    throw error;
  }
}

/** Whether a process with this pid exists (it may belong to another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Alive and not a zombie: an exited server waiting to be reaped (by init, once detached) counts as stopped. */
export function isRunning(pid: number): boolean {
  return isAlive(pid) && !isZombie(pid);
}

/**
 * Sends SIGTERM to the process group led by `pid`, waits up to `graceMs` for the leader to end,
 * then SIGKILLs the group. Returns once the leader is gone.
 */
export async function stopProcessGroup(pid: number, graceMs = 10_000): Promise<void> {
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is already gone; fall back to the leader alone in case it left its group.
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
  };
  signalGroup('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isRunning(pid) && Date.now() < deadline) await sleep(100);
  if (isRunning(pid)) {
    signalGroup('SIGKILL');
    while (isRunning(pid)) await sleep(50);
  }
}

/** A zombie has exited but waits for its parent to reap it: it counts as stopped. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
