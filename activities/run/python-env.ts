import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { PythonEnvironmentError, PythonPackageIndexError } from '../../common/errors.ts';

/**
 * The Python virtual environments of `run` steps: one per (Python version, requirements
 * content) under `envsDir`, built once and reused by every step and run on the worker.
 *
 * A venv is not relocatable (`bin/activate` and the shebangs of installed scripts hold its
 * absolute path), so it is built in its final folder `<envsDir>/<envKey>/` while holding
 * `<envsDir>/<envKey>.lock` (proper-lockfile: other callers, in this process or another, wait
 * for the one build), and becomes visible when its marker `mlp-env.json` is renamed into place,
 * last and atomically. A folder without the marker is a build that died half-way: the next
 * builder removes it and starts again.
 */

export interface PythonEnvRequest {
  /** Folder holding the environments (the worker's MLP_RUN_ENVS_DIR). */
  envsDir: string;
  /** The content of the step's requirements file ('' for none). */
  requirementsText: string;
  /** The interpreter the venv is made from. @default 'python3' */
  basePython?: string;
  /** Stops a build (pip is terminated, the half-built folder removed) or a wait for another's build. */
  signal?: AbortSignal;
  /** Each line pip and venv print, and a line when waiting for another builder: the step's log. */
  onLine?: (line: string) => void;
  /**
   * The environment pip inherits, less secrets (see `pipEnvironment`). @default process.env:
   * pip's configuration (PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf's location) is the worker's.
   */
  environment?: NodeJS.ProcessEnv;
}

export interface PythonEnv {
  /** Absolute path of the venv's interpreter. */
  python: string;
  /** `major.minor.micro` of the interpreter. */
  pythonVersion: string;
  /** sha256 of the Python version and requirements content: the env's folder name. */
  envKey: string;
}

/** Written last into a finished environment; its presence is what "built" means. */
const MARKER = 'mlp-env.json';
/** pip's last lines quoted in a PythonEnvironmentError. */
const ERROR_LINES = 20;
/**
 * The holder refreshes its lock every UPDATE_MS; a lock not refreshed for STALE_MS (its holder
 * was killed) is taken over. Generous, because a worker's event loop can be busy for seconds.
 */
const LOCK_UPDATE_MS = 5_000;
const LOCK_STALE_MS = 60_000;
/** How often a waiting caller looks whether the build it waits for finished. */
const WAIT_POLL_MS = 250;

/** `major.minor.micro` of `basePython` (for the step's cache key, before any env is built). */
export async function basePythonVersion(basePython = 'python3'): Promise<string> {
  const { code, lines } = await runProcess(basePython, ['-c', 'import platform; print(platform.python_version())'], {
    env: pipEnvironment(process.env),
  });
  const version = lines.at(-1)?.trim() ?? '';
  if (code !== 0 || !/^\d+\.\d+\.\d+/.test(version)) {
    throw new PythonEnvironmentError(`Cannot read the version of ${basePython} (exit code ${code ?? 'none'}):\n${lines.slice(-ERROR_LINES).join('\n')}`);
  }
  return version;
}

/** The env's folder name: sha256 of the Python version and the requirements content. */
export function pythonEnvKey(pythonVersion: string, requirementsText: string): string {
  return createHash('sha256').update(`python ${pythonVersion}\n`).update(requirementsText).digest('hex');
}

/** Returns the environment for the request, building it first unless it exists or another caller builds it. */
export async function ensurePythonEnv(request: PythonEnvRequest): Promise<PythonEnv> {
  const { envsDir, requirementsText, basePython = 'python3', signal, onLine = () => {} } = request;
  const environment = pipEnvironment(request.environment ?? process.env);
  const pythonVersion = await basePythonVersion(basePython);
  const envKey = pythonEnvKey(pythonVersion, requirementsText);
  const envDir = join(envsDir, envKey);
  const env: PythonEnv = { python: join(envDir, 'bin', 'python'), pythonVersion, envKey };
  if (isBuilt(envDir)) return env;

  await mkdir(envsDir, { recursive: true });
  const release = await acquireBuildLock(envDir, signal, onLine);
  if (release === 'built') return env;
  try {
    if (isBuilt(envDir)) return env;
    onLine(`Building Python ${pythonVersion} environment ${envKey.slice(0, 12)}`);
    await rm(envDir, { recursive: true, force: true });
    try {
      await buildEnv({ envDir, basePython, requirementsText, environment, signal, onLine });
    } catch (error) {
      await rm(envDir, { recursive: true, force: true });
      throw error;
    }
    const marker = { pythonVersion, envKey, builtAt: new Date().toISOString() };
    await writeFile(join(envDir, `${MARKER}.tmp`), `${JSON.stringify(marker, null, 2)}\n`);
    await rename(join(envDir, `${MARKER}.tmp`), join(envDir, MARKER));
    return env;
  } finally {
    await release();
  }
}

function isBuilt(envDir: string): boolean {
  return existsSync(join(envDir, MARKER));
}

/**
 * Takes the env's build lock, waiting while another caller holds it; 'built' when that caller
 * finished the env meanwhile. Waits as long as the holder keeps its lock fresh: pip may take
 * minutes, and a dead holder's lock goes stale after LOCK_STALE_MS.
 */
async function acquireBuildLock(envDir: string, signal: AbortSignal | undefined, onLine: (line: string) => void): Promise<(() => Promise<void>) | 'built'> {
  let announced = false;
  for (;;) {
    signal?.throwIfAborted();
    try {
      return await lockfile.lock(envDir, {
        realpath: false,
        lockfilePath: `${envDir}.lock`,
        stale: LOCK_STALE_MS,
        update: LOCK_UPDATE_MS,
        retries: 0,
        // Losing the lock (the event loop stalled past `stale`) must not crash the worker: at
        // worst two builders race, and the second one's build replaces the first's.
        onCompromised: () => {},
      });
    } catch (error) {
      if (!(error instanceof Error && 'code' in error && error.code === 'ELOCKED')) throw error;
    }
    if (isBuilt(envDir)) return 'built';
    if (!announced) {
      onLine(`Waiting for another build of the Python environment ${envDir}`);
      announced = true;
    }
    await sleep(WAIT_POLL_MS, undefined, { signal });
  }
}

interface BuildOptions {
  envDir: string;
  basePython: string;
  requirementsText: string;
  environment: NodeJS.ProcessEnv;
  signal: AbortSignal | undefined;
  onLine: (line: string) => void;
}

async function buildEnv(options: BuildOptions): Promise<void> {
  const { envDir, basePython, requirementsText, environment, signal, onLine } = options;
  const installs = hasRequirements(requirementsText);
  // pip in the env costs seconds (ensurepip); an env with nothing to install does without it.
  const venvArgs = ['-m', 'venv', ...(installs ? [] : ['--without-pip']), envDir];
  const venv = await runProcess(basePython, venvArgs, { env: environment, signal, onLine });
  if (venv.code !== 0) {
    throw new PythonEnvironmentError(`${basePython} ${venvArgs.join(' ')} failed (${exitText(venv)}):\n${venv.lines.slice(-ERROR_LINES).join('\n')}`);
  }
  // Kept in the env as the record of what it holds (and read back by pip from there).
  const requirementsFile = join(envDir, 'mlp-requirements.txt');
  await writeFile(requirementsFile, requirementsText);
  if (!installs) return;
  const pip = await runProcess(join(envDir, 'bin', 'python'), ['-m', 'pip', 'install', '--no-input', '-r', requirementsFile], {
    env: environment,
    signal,
    onLine,
  });
  if (pip.code !== 0) {
    const tail = pip.lines.slice(-ERROR_LINES).join('\n');
    if (pip.lines.some(isConnectionRetry)) {
      throw new PythonPackageIndexError(`pip install of the step's requirements failed (${exitText(pip)}) after it could not reach its package index; its last lines:\n${tail}`);
    }
    throw new PythonEnvironmentError(`pip install of the step's requirements failed (${exitText(pip)}); its last lines:\n${tail}`);
  }
}

/**
 * pip's warning that a request to its index failed at the connection (it then reports the
 * package as not found): the failure says nothing about the requirements, so it is retried.
 */
function isConnectionRetry(line: string): boolean {
  return /^WARNING: Retrying \(Retry\(/.test(line) && /connection broken by|NewConnectionError|ConnectTimeoutError|ReadTimeoutError|ProtocolError|ProxyError|SSLError|timed out/.test(line);
}

/** Whether the file names anything to install (pip refuses nothing; blank lines and comments are nothing). */
function hasRequirements(text: string): boolean {
  return text.split('\n').some((line) => line.replace(/#.*/, '').trim() !== '');
}

/**
 * The worker's environment without what pip must not see: object-storage and Temporal
 * credentials and TLS paths (pip runs setup scripts of arbitrary packages), and the variables
 * that would point the venv's interpreter at another installation. PIP_* stay: a mirror's URL
 * and credentials are pip's own configuration.
 */
export function pipEnvironment(environment: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(environment)) {
    if (value === undefined || isWithheldFromPip(name)) continue;
    kept[name] = value;
  }
  return kept;
}

const WITHHELD_PREFIXES = ['AWS_', 'S3_', 'MLP_S3_', 'TEMPORAL_', 'MLP_TEMPORAL_', 'MINIO_'];
const WITHHELD_NAMES = new Set(['PYTHONHOME', 'PYTHONPATH', 'VIRTUAL_ENV', 'PYTHONSTARTUP']);
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|API_KEY|ACCESS_KEY|CREDENTIAL/i;

function isWithheldFromPip(name: string): boolean {
  if (name.startsWith('PIP_')) return false;
  return WITHHELD_PREFIXES.some((prefix) => name.startsWith(prefix)) || WITHHELD_NAMES.has(name) || SECRET_NAME.test(name);
}

interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr lines, in the order they were read. */
  lines: string[];
}

function exitText(result: ProcessResult): string {
  return result.signal !== null ? `signal ${result.signal}` : `exit code ${result.code ?? 'none'}`;
}

/** Keeps this many lines of a process's output (errors quote the last ERROR_LINES). */
const KEPT_LINES = 200;

/** Runs a command to its end, passing each output line to `onLine`; abort sends SIGTERM. */
async function runProcess(
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; signal?: AbortSignal; onLine?: (line: string) => void },
): Promise<ProcessResult> {
  options.signal?.throwIfAborted();
  const child = spawn(command, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal, killSignal: 'SIGTERM' });
  const lines: string[] = [];
  const collect = (line: string): void => {
    lines.push(line);
    if (lines.length > KEPT_LINES) lines.shift();
    options.onLine?.(line);
  };
  createInterface({ input: child.stdout }).on('line', collect);
  createInterface({ input: child.stderr }).on('line', collect);
  const result = await new Promise<ProcessResult>((resolve, reject) => {
    child.once('error', (error) => {
      if (options.signal?.aborted === true) reject(options.signal.reason);
      else if ('code' in error && error.code === 'ENOENT') reject(new PythonEnvironmentError(`Cannot run ${command}: not found on PATH`));
      else reject(error);
    });
    child.once('close', (code, signal) => resolve({ code, signal, lines }));
  });
  options.signal?.throwIfAborted();
  return result;
}

