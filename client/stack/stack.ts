import { mkdirSync } from 'node:fs';
import { ServerStartError, type StorageConfig } from '../../common/index.ts';
import { resolveS3Binary, resolveTemporalBinary } from '../servers/binaries.ts';
import {
  ensureBucket,
  httpHealthy,
  isPortFree,
  missingSearchAttributes,
  s3Healthy,
  s3ServerCommand,
  spawnServer,
  stopProcessGroup,
  temporalDevServerCommand,
  temporalHealthy,
  waitUntilHealthy,
  type ServerCommand,
  type SpawnedServer,
} from '../servers/launch.ts';
import { stackPaths, type StackConfig } from './config.ts';
import { loadOrCreateCredentials, maskSecret, readCredentials } from './credentials.ts';
import { withStackLock } from './stack-lock.ts';
import { isOurProcess, readState, writeState, type StackState } from './state.ts';

/**
 * `stack up | down | status`: the real Temporal dev server (SQLite file, Web UI, default
 * namespace, the project's search attributes) and the S3 server (data folder, generated
 * credentials), started detached so they outlive the CLI, tracked in a pid file.
 */

const START_TIMEOUT_MS = 90_000;
/** Temporal flushes SQLite on SIGTERM: give it time before SIGKILL. */
const STOP_GRACE_MS = 20_000;

export type UpAction = 'started' | 'already running';

export interface UpResult {
  temporal: UpAction;
  s3: UpAction;
  credentialsCreated: boolean;
  status: StackStatus;
}

export interface StackStatus {
  home: string;
  healthy: boolean;
  temporal: { running: boolean; healthy: boolean; pid?: number; address: string; namespace: string; uiUrl: string; uiHealthy: boolean };
  s3: { running: boolean; healthy: boolean; pid?: number; kind: string; endpoint: string; bucket: string; accessKeyId?: string; secretAccessKey?: string };
  logs: { temporal: string; s3: string };
}

function commandArgv(command: ServerCommand): string[] {
  return [command.command, ...command.args];
}

async function assertPortsFree(host: string, ports: Record<string, number>): Promise<void> {
  for (const [what, port] of Object.entries(ports)) {
    if (!(await isPortFree(host, port))) {
      throw new ServerStartError(`Cannot start the stack: ${what} port ${host}:${port} is in use by another process; choose another with --${what}-port`);
    }
  }
}

/**
 * Starts whatever part of the stack is not running yet and waits until both servers are healthy.
 * Concurrent calls on the same home take turns (see `withStackLock`).
 */
export async function stackUp(config: StackConfig, onInfo: (message: string) => void = () => undefined): Promise<UpResult> {
  return withStackLock(config.home, onInfo, () => startMissing(config, onInfo));
}

async function startMissing(config: StackConfig, onInfo: (message: string) => void): Promise<UpResult> {
  const paths = stackPaths(config.home);
  mkdirSync(paths.logs, { recursive: true, mode: 0o700 });
  mkdirSync(paths.s3Data, { recursive: true, mode: 0o700 });
  const { credentials, created } = loadOrCreateCredentials(paths.credentials);
  if (created) onInfo(`generated S3 credentials in ${paths.credentials} (mode 0600)`);

  const state: StackState = readState(paths.state) ?? { host: config.host };
  if (state.temporal && !isOurProcess(state.temporal)) state.temporal = undefined;
  if (state.s3 && !isOurProcess(state.s3)) state.s3 = undefined;
  if (!state.temporal && !state.s3) state.host = config.host;
  const host = state.host;
  const fresh: SpawnedServer[] = [];
  const result: Pick<UpResult, 'temporal' | 's3'> = { temporal: 'already running', s3: 'already running' };

  if (!state.temporal) {
    const binary = await resolveTemporalBinary({ explicit: config.temporalBin });
    await assertPortsFree(host, { temporal: config.temporalPort, ui: config.uiPort });
    const command = temporalDevServerCommand({ binary: binary.path, host, port: config.temporalPort, uiPort: config.uiPort, dbFile: paths.sqlite });
    onInfo(`starting Temporal dev server ${binary.version} on ${host}:${config.temporalPort} (UI ${config.uiPort}), log ${paths.temporalLog}`);
    const server = spawnServer(command, { name: 'Temporal dev server', logFile: paths.temporalLog, cwd: config.home, detach: true });
    fresh.push(server);
    state.temporal = { pid: server.pid, argv: commandArgv(command), startedAt: new Date().toISOString(), binaryVersion: binary.version, port: config.temporalPort, uiPort: config.uiPort };
    result.temporal = 'started';
  }
  if (!state.s3) {
    const binary = await resolveS3Binary(config.s3Server, { explicit: config.s3ServerBin });
    await assertPortsFree(host, { s3: config.s3Port });
    const command = s3ServerCommand({ kind: config.s3Server, binary: binary.path, host, port: config.s3Port, dataDir: paths.s3Data, ...credentials });
    onInfo(`starting S3 server (${config.s3Server} ${binary.version}) on ${host}:${config.s3Port}, log ${paths.s3Log}`);
    const server = spawnServer(command, { name: `S3 server (${config.s3Server})`, logFile: paths.s3Log, cwd: config.home, detach: true });
    fresh.push(server);
    state.s3 = { pid: server.pid, argv: commandArgv(command), startedAt: new Date().toISOString(), binaryVersion: binary.version, port: config.s3Port, kind: config.s3Server, bucket: config.bucket };
    result.s3 = 'started';
  }
  // Record pids before waiting, so `down` can stop a server that never became healthy.
  writeState(paths.state, state);

  try {
    const temporal = state.temporal;
    const s3 = state.s3;
    const temporalAddress = `${host}:${temporal.port}`;
    const storage = storageOf(host, s3, credentials);
    const byPid = (pid: number) => fresh.find((server) => server.pid === pid);
    await Promise.all([
      waitUntilHealthy(`Temporal dev server at ${temporalAddress}`, () => temporalHealthy(temporalAddress), { server: byPid(temporal.pid), timeoutMs: START_TIMEOUT_MS }),
      waitUntilHealthy(`Temporal Web UI at http://${host}:${temporal.uiPort}`, () => httpHealthy(`http://${host}:${temporal.uiPort}/`), { server: byPid(temporal.pid), timeoutMs: START_TIMEOUT_MS }),
      waitUntilHealthy(`S3 server at ${storage.endpoint}`, () => s3Healthy(storage.endpoint, s3.kind), { server: byPid(s3.pid), timeoutMs: START_TIMEOUT_MS }),
    ]);
    const missing = await missingSearchAttributes(temporalAddress);
    if (missing.length > 0) throw new ServerStartError(`Temporal dev server at ${temporalAddress} lacks search attributes ${missing.join(', ')} after start`);
    await ensureBucket(storage);
  } catch (error) {
    // Leave nothing half-started behind: stop what this call started.
    await Promise.all(fresh.map((server) => stopProcessGroup(server.pid, STOP_GRACE_MS)));
    if (result.temporal === 'started') state.temporal = undefined;
    if (result.s3 === 'started') state.s3 = undefined;
    writeState(paths.state, state);
    throw error;
  }
  return { ...result, credentialsCreated: created, status: await stackStatus(config) };
}

function storageOf(host: string, s3: NonNullable<StackState['s3']>, credentials: { accessKeyId: string; secretAccessKey: string }): StorageConfig {
  return {
    endpoint: `http://${host}:${s3.port}`,
    region: 'us-east-1',
    bucket: s3.bucket,
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
  };
}

export interface DownResult {
  temporal: 'stopped' | 'not running';
  s3: 'stopped' | 'not running';
}

/** Stops the servers this stack started (verified by pid and command line) and nothing else. */
export async function stackDown(config: StackConfig): Promise<DownResult> {
  return withStackLock(config.home, () => undefined, () => stopRecorded(config));
}

async function stopRecorded(config: StackConfig): Promise<DownResult> {
  const paths = stackPaths(config.home);
  const state = readState(paths.state);
  const result: DownResult = { temporal: 'not running', s3: 'not running' };
  if (!state) return result;
  await Promise.all(
    (['temporal', 's3'] as const).map(async (name) => {
      const recorded = state[name];
      if (recorded && isOurProcess(recorded)) {
        await stopProcessGroup(recorded.pid, STOP_GRACE_MS);
        result[name] = 'stopped';
      }
    }),
  );
  writeState(paths.state, { host: state.host });
  return result;
}

/** Health of each server as recorded in the pid file (ports of the running stack, not of the flags). */
export async function stackStatus(config: StackConfig): Promise<StackStatus> {
  const paths = stackPaths(config.home);
  const state = readState(paths.state);
  const host = state?.host ?? config.host;
  const temporal = state?.temporal && isOurProcess(state.temporal) ? state.temporal : undefined;
  const s3 = state?.s3 && isOurProcess(state.s3) ? state.s3 : undefined;
  const temporalPort = temporal?.port ?? config.temporalPort;
  const uiPort = temporal?.uiPort ?? config.uiPort;
  const s3Port = s3?.port ?? config.s3Port;
  const kind = s3?.kind ?? config.s3Server;
  const address = `${host}:${temporalPort}`;
  const uiUrl = `http://${host}:${uiPort}`;
  const endpoint = `http://${host}:${s3Port}`;
  const [temporalOk, uiOk, s3Ok] = await Promise.all([
    temporal ? temporalHealthy(address) : false,
    temporal ? httpHealthy(`${uiUrl}/`) : false,
    s3 ? s3Healthy(endpoint, kind) : false,
  ]);
  let masked: { accessKeyId?: string; secretAccessKey?: string } = {};
  try {
    const credentials = readCredentials(paths.credentials);
    masked = { accessKeyId: maskSecret(credentials.accessKeyId), secretAccessKey: maskSecret(credentials.secretAccessKey) };
  } catch {
    // No credentials yet: the stack was never started.
  }
  return {
    home: config.home,
    healthy: temporalOk && uiOk && s3Ok,
    temporal: { running: temporal !== undefined, healthy: temporalOk, pid: temporal?.pid, address, namespace: 'default', uiUrl, uiHealthy: uiOk },
    s3: { running: s3 !== undefined, healthy: s3Ok, pid: s3?.pid, kind, endpoint, bucket: s3?.bucket ?? config.bucket, ...masked },
    logs: { temporal: paths.temporalLog, s3: paths.s3Log },
  };
}
