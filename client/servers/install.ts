import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { ServerBinaryError } from '../../common/index.ts';
import {
  GO_TOOLS,
  TOOLS_BIN_DIR,
  VERSIONS_STAMP,
  goBuildInfo,
  isToolInstalled,
  readVersionsStamp,
  resolveS3Binary,
  resolveTemporalBinary,
  s3ServerKind,
  type GoTool,
} from './binaries.ts';

/**
 * `mlp servers install`: builds the pinned servers with `go install` into `.tools/bin`.
 * Go's module and build caches stay in their default places, so a second clone on the same
 * machine (or a CI cache of ~/go and ~/.cache/go-build) builds warm.
 */

export type InstallEvent =
  | { type: 'start'; tool: string; version: string }
  | { type: 'output'; tool: string; line: string }
  | { type: 'tick'; tool: string; elapsedS: number }
  | { type: 'done'; tool: string; elapsedS: number };

export interface InstallResult {
  tool: string;
  /** `built`: compiled now; `present`: right version already there; `external`: user binary from env. */
  status: 'built' | 'present' | 'external';
  path: string;
  version: string;
  seconds: number;
}

export interface InstallOptions {
  /** Rebuild even when the right version is present. @default false */
  force?: boolean;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** @default TOOLS_BIN_DIR */
  binDir?: string;
  /** @default VERSIONS_STAMP */
  stampFile?: string;
  /** Seconds between "still building" ticks. @default 15 */
  tickSeconds?: number;
  onEvent?: (event: InstallEvent) => void;
}

/** Version of the `go` on PATH, or a clear `ServerBinaryError` when there is none. */
export async function goVersion(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('go', ['env', 'GOVERSION'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new ServerBinaryError(
          error.code === 'ENOENT'
            ? 'Cannot build the servers: `go` is not on PATH. Install Go 1.24 or newer (https://go.dev/dl/), ' +
                'or point MLP_TEMPORAL_BIN and MLP_S3_SERVER_BIN at existing temporal and S3 server binaries'
            : `Cannot run go: ${error.message}`,
        ),
      );
    });
    child.once('exit', (code) => {
      if (code === 0) resolve(out.trim());
      else reject(new ServerBinaryError(`Cannot build the servers: \`go env GOVERSION\` exited with ${code}`));
    });
  });
}

/** The `go install` command line for a tool (pure, for tests and for printing). */
export function goInstallCommand(tool: GoTool, binDir: string): { args: string[]; env: Record<string, string> } {
  return {
    args: ['install', '-trimpath', `${tool.package}@${tool.version}`],
    // Static binaries without a C toolchain; GOBIN puts them in the git-ignored tools folder.
    env: { CGO_ENABLED: '0', GOBIN: binDir },
  };
}

async function goInstall(tool: GoTool, options: Required<Pick<InstallOptions, 'binDir' | 'tickSeconds'>> & InstallOptions): Promise<number> {
  const started = Date.now();
  const elapsed = (): number => Math.round((Date.now() - started) / 1000);
  const { args, env } = goInstallCommand(tool, options.binDir);
  options.onEvent?.({ type: 'start', tool: tool.name, version: tool.version });
  const child = spawn('go', args, { env: { ...(options.env ?? process.env), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      options.onEvent?.({ type: 'output', tool: tool.name, line });
    });
  }
  // Compiling is silent for minutes on 2 cores: tick so the user sees it is alive.
  const ticker = setInterval(() => options.onEvent?.({ type: 'tick', tool: tool.name, elapsedS: elapsed() }), options.tickSeconds * 1000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    if (code !== 0) {
      throw new ServerBinaryError(`go install ${tool.package}@${tool.version} failed with exit code ${code}:\n${tail.join('\n')}`);
    }
  } finally {
    clearInterval(ticker);
  }
  options.onEvent?.({ type: 'done', tool: tool.name, elapsedS: elapsed() });
  return (Date.now() - started) / 1000;
}

function writeStamp(stampFile: string, tool: GoTool): void {
  const stamp = readVersionsStamp(stampFile);
  if (stamp[tool.name]?.version === tool.version && stamp[tool.name]?.module === tool.module) return;
  stamp[tool.name] = { module: tool.module, version: tool.version, installedAt: new Date().toISOString() };
  mkdirSync(dirname(stampFile), { recursive: true });
  writeFileSync(stampFile, `${JSON.stringify(stamp, null, 2)}\n`);
}

/**
 * Makes sure both servers are available: a binary the user names in the environment is
 * version-checked and used as is; otherwise the pinned version is built unless already present.
 */
export async function installServers(options: InstallOptions = {}): Promise<InstallResult[]> {
  const env = options.env ?? process.env;
  const binDir = options.binDir ?? TOOLS_BIN_DIR;
  const stampFile = options.stampFile ?? VERSIONS_STAMP;
  const resolved = { ...options, env, binDir, stampFile, tickSeconds: options.tickSeconds ?? 15 };
  const results: InstallResult[] = [];
  const toBuild: GoTool[] = [];

  if (env.MLP_TEMPORAL_BIN) {
    const binary = await resolveTemporalBinary({ env, binDir });
    results.push({ tool: 'temporal', status: 'external', path: binary.path, version: binary.version, seconds: 0 });
  } else {
    toBuild.push(GO_TOOLS.temporal);
  }
  const kind = s3ServerKind(undefined, env);
  if (kind !== 'versitygw' || env.MLP_S3_SERVER_BIN) {
    const binary = await resolveS3Binary(kind, { env, binDir });
    results.push({ tool: kind, status: 'external', path: binary.path, version: binary.version, seconds: 0 });
  } else {
    toBuild.push(GO_TOOLS.versitygw);
  }

  for (const tool of toBuild) {
    const path = join(binDir, tool.name);
    if (!options.force && (await isToolInstalled(tool, binDir, stampFile))) {
      writeStamp(stampFile, tool);
      results.push({ tool: tool.name, status: 'present', path, version: tool.version, seconds: 0 });
      continue;
    }
    await goVersion(env);
    mkdirSync(binDir, { recursive: true });
    const seconds = await goInstall(tool, resolved);
    const built = (await goBuildInfo(path)).get(tool.module);
    if (built !== tool.version) {
      throw new ServerBinaryError(`go install ${tool.package}@${tool.version} produced ${path} with module version ${built ?? 'unknown'}`);
    }
    writeStamp(stampFile, tool);
    results.push({ tool: tool.name, status: 'built', path, version: tool.version, seconds });
  }
  return results;
}
