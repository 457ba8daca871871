import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOOLS_DIR } from '../../client/servers/binaries.ts';
import { freePort } from '../../client/servers/launch.ts';
import { waitUntil } from './wait-until.ts';

/** The `mlflow` that deploy/tools/install-mlflow.sh installs (npm's pretest and .ci/run call it). */
export const MLFLOW_BIN = join(TOOLS_DIR, 'mlflow', 'bin', 'mlflow');

export interface MlflowServer {
  /** http://127.0.0.1:<port>: the worker's MLFLOW_TRACKING_URI. */
  uri: string;
  /** Server output, for failure messages. */
  logFile: string;
  /** Ends the server (and its uvicorn workers); the folder stays until `remove`. */
  stop(): Promise<void>;
  /** Stops it and removes its SQLite file and artifacts. */
  remove(): Promise<void>;
}

/**
 * A real MLflow tracking server on a free port: a SQLite backend and a local artifact root in a
 * temp folder, artifacts served through its proxy (`mlflow-artifacts:`) as the worker uploads
 * them. Ready when /health answers (a fresh SQLite store takes its migrations first, ~20 s on 2
 * cores); the deadline names the log.
 */
export async function startMlflowServer(): Promise<MlflowServer> {
  if (!existsSync(MLFLOW_BIN)) throw new Error(`${MLFLOW_BIN} is missing: run bash deploy/tools/install-mlflow.sh (npm test's pretest does)`);
  const dir = await mkdtemp(join(tmpdir(), 'mlp-mlflow-'));
  const port = await freePort();
  const logFile = join(dir, 'server.log');
  const out = openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    MLFLOW_BIN,
    [
      'server',
      ...['--backend-store-uri', `sqlite:///${join(dir, 'mlflow.db')}`],
      ...['--artifacts-destination', join(dir, 'artifacts')],
      '--serve-artifacts',
      ...['--host', '127.0.0.1', '--port', String(port)],
      ...['--workers', '1'],
    ],
    // Its own process group: `stop` ends the uvicorn workers with it.
    { detached: true, stdio: ['ignore', out, out], env: { ...process.env, MLFLOW_DISABLE_TELEMETRY: 'true', DO_NOT_TRACK: 'true' } },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const uri = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
      await exited;
    }
  };
  try {
    await waitUntil(
      `the MLflow server at ${uri} to answer /health (log: ${logFile})`,
      async () => {
        if (child.exitCode !== null) throw new Error(`mlflow server exited with ${child.exitCode} (log: ${logFile})`);
        const response = await fetch(`${uri}/health`).catch(() => undefined);
        return response?.ok === true ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { uri, logFile, stop, remove: async () => { await stop(); await rm(dir, { recursive: true, force: true }); } };
}
