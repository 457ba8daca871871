import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';
import { ServerBinaryError } from '../../common/index.ts';
import type { S3ServerKind } from './launch.ts';
import {
  isAtLeast,
  parseGoBuildInfo,
  parseMinioVersion,
  parseTemporalVersion,
  parseVersitygwVersion,
} from './versions.ts';

const run = promisify(execFile);

/**
 * Where the server binaries come from. Order: an explicit path (flag), then the environment
 * (`MLP_TEMPORAL_BIN`, `MLP_S3_SERVER_BIN`), then `.tools/bin` (built by `mlp servers install`),
 * then `PATH`. Every binary found gets a version check before use.
 */

/** A server this project can build with `go install`. */
export interface GoTool {
  /** Binary name in `.tools/bin`. */
  name: 'temporal' | 'versitygw';
  /** Package passed to `go install`. */
  package: string;
  /** Module whose version pins the build (as `go version -m` reports it). */
  module: string;
  version: string;
}

/**
 * Pinned server builds. Temporal CLI v1.5.1: later tags carry a `replace` directive that breaks
 * `go install`. versitygw replaces MinIO as the embedded S3 server because the Go proxy refuses
 * the MinIO server module; any S3 server works since storage uses plain S3 calls only.
 */
export const GO_TOOLS = {
  temporal: { name: 'temporal', package: 'github.com/temporalio/cli/cmd/temporal', module: 'github.com/temporalio/cli', version: 'v1.5.1' },
  versitygw: { name: 'versitygw', package: 'github.com/versity/versitygw/cmd/versitygw', module: 'github.com/versity/versitygw', version: 'v1.8.0' },
} as const satisfies Record<string, GoTool>;

/** Oldest versions of user-supplied binaries the project accepts. */
export const MINIMUM_VERSIONS = {
  /** Dev-server features used: `--search-attribute`, `--db-filename`, `--log-format`. */
  temporalServer: '1.25.0',
  versitygw: '1.0.0',
  /** MinIO release date (RELEASE.<date>). */
  minio: '2024-01-01T00-00-00Z',
} as const;

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TOOLS_DIR = join(PROJECT_ROOT, '.tools');
export const TOOLS_BIN_DIR = join(TOOLS_DIR, 'bin');
/** Records which module version `mlp servers install` built into `.tools/bin`. */
export const VERSIONS_STAMP = join(TOOLS_DIR, 'versions.json');

const stampSchema = z.record(z.string(), z.object({ module: z.string(), version: z.string(), installedAt: z.string() }));
export type VersionsStamp = z.infer<typeof stampSchema>;

export function readVersionsStamp(file = VERSIONS_STAMP): VersionsStamp {
  try {
    return stampSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return {};
  }
}

/** A binary that passed its version check. */
export interface ResolvedBinary {
  path: string;
  /** Where it was found. */
  source: 'flag' | 'env' | 'tools' | 'path';
  /** Human-readable version, e.g. `v1.5.1 (server 1.29.1)`. */
  version: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** First executable named `name` on `PATH`. */
export function findOnPath(name: string, pathVariable = process.env.PATH ?? ''): string | undefined {
  for (const folder of pathVariable.split(delimiter)) {
    if (!folder) continue;
    const candidate = join(folder, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function output(binary: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(binary, args, { timeout: 30_000 });
    return `${stdout}${stderr}`;
  } catch (error) {
    throw new ServerBinaryError(`Running ${binary} ${args.join(' ')} failed: ${(error as Error).message}`);
  }
}

/** Module versions embedded in a Go binary, or an empty map when `go` is not installed. */
export async function goBuildInfo(binary: string): Promise<Map<string, string>> {
  try {
    const { stdout } = await run('go', ['version', '-m', binary], { timeout: 30_000 });
    return parseGoBuildInfo(stdout);
  } catch {
    return new Map();
  }
}

/** True when `.tools/bin/<tool>` exists and was built from the pinned module version. */
export async function isToolInstalled(tool: GoTool, binDir = TOOLS_BIN_DIR, stampFile = VERSIONS_STAMP): Promise<boolean> {
  const binary = join(binDir, tool.name);
  if (!isExecutable(binary)) return false;
  if (readVersionsStamp(stampFile)[tool.name]?.version === tool.version) return true;
  return (await goBuildInfo(binary)).get(tool.module) === tool.version;
}

/** Checks a Temporal CLI binary; returns its version text or throws `ServerBinaryError`. */
export async function checkTemporalBinary(binary: string): Promise<string> {
  const text = await output(binary, ['--version']);
  const parsed = parseTemporalVersion(text);
  if (!parsed) throw new ServerBinaryError(`Cannot read the version of ${binary}: expected "temporal version X (Server Y, …)", got "${text.trim()}"`);
  if (!isAtLeast(parsed.server, MINIMUM_VERSIONS.temporalServer)) {
    throw new ServerBinaryError(
      `Temporal CLI at ${binary} embeds server ${parsed.server}; this project needs server ${MINIMUM_VERSIONS.temporalServer} or newer (Temporal CLI ${GO_TOOLS.temporal.version} or newer)`,
    );
  }
  const cli = parsed.cli.startsWith('0.0.0') ? ((await goBuildInfo(binary)).get(GO_TOOLS.temporal.module) ?? parsed.cli) : parsed.cli;
  return `${cli} (server ${parsed.server})`;
}

/** Checks an S3 server binary of the given kind; returns its version text or throws `ServerBinaryError`. */
export async function checkS3Binary(kind: S3ServerKind, binary: string): Promise<string> {
  const text = await output(binary, ['--version']);
  if (kind === 'minio') {
    const release = parseMinioVersion(text);
    // Source builds (`go install`) print DEVELOPMENT.<date>; only releases can be checked.
    if (release !== undefined && release < MINIMUM_VERSIONS.minio) {
      throw new ServerBinaryError(`MinIO at ${binary} is RELEASE.${release}; this project needs RELEASE.${MINIMUM_VERSIONS.minio} or newer`);
    }
    return release ? `RELEASE.${release}` : 'source build';
  }
  const version = parseVersitygwVersion(text) ?? (await goBuildInfo(binary)).get(GO_TOOLS.versitygw.module);
  if (version === undefined) {
    throw new ServerBinaryError(`Cannot read the version of ${binary}: "versitygw --version" printed no version and "go version -m" is unavailable`);
  }
  if (!isAtLeast(version, MINIMUM_VERSIONS.versitygw)) {
    throw new ServerBinaryError(`versitygw at ${binary} is ${version}; this project needs ${MINIMUM_VERSIONS.versitygw} or newer`);
  }
  return version;
}

interface Candidate {
  path: string;
  source: ResolvedBinary['source'];
}

function pickCandidate(name: string, explicit: string | undefined, env: NodeJS.ProcessEnv, envName: string, binDir: string): Candidate {
  const fromEnv = env[envName];
  if (explicit) return { path: explicit, source: 'flag' };
  if (fromEnv) return { path: fromEnv, source: 'env' };
  const tools = join(binDir, name);
  if (isExecutable(tools)) return { path: tools, source: 'tools' };
  const onPath = findOnPath(name, env.PATH ?? '');
  if (onPath) return { path: onPath, source: 'path' };
  throw new ServerBinaryError(
    `Cannot find the ${name} binary: run \`npm run setup\` to build it into ${binDir}, or set ${envName} (or pass its flag) to an existing binary`,
  );
}

function assertExecutable(candidate: Candidate, name: string): void {
  if (!isExecutable(candidate.path)) {
    throw new ServerBinaryError(`The ${name} binary given by ${candidate.source} is not an executable file: ${candidate.path}`);
  }
}

export interface ResolveOptions {
  /** Path given on the command line. */
  explicit?: string;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** @default TOOLS_BIN_DIR */
  binDir?: string;
}

/** Finds and version-checks the Temporal CLI. */
export async function resolveTemporalBinary(options: ResolveOptions = {}): Promise<ResolvedBinary> {
  const env = options.env ?? process.env;
  const candidate = pickCandidate('temporal', options.explicit, env, 'MLP_TEMPORAL_BIN', options.binDir ?? TOOLS_BIN_DIR);
  assertExecutable(candidate, 'temporal');
  return { ...candidate, version: await checkTemporalBinary(candidate.path) };
}

/** The S3 server kind chosen by flag or `MLP_S3_SERVER`. */
export function s3ServerKind(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): S3ServerKind {
  const value = explicit ?? env.MLP_S3_SERVER ?? 'versitygw';
  if (value === 'versitygw' || value === 'minio') return value;
  throw new ServerBinaryError(`Unknown S3 server "${value}" (from ${explicit ? '--s3-server' : 'MLP_S3_SERVER'}): use versitygw or minio`);
}

/** Finds and version-checks the S3 server binary of the given kind. */
export async function resolveS3Binary(kind: S3ServerKind, options: ResolveOptions = {}): Promise<ResolvedBinary> {
  const env = options.env ?? process.env;
  const candidate = pickCandidate(kind, options.explicit, env, 'MLP_S3_SERVER_BIN', options.binDir ?? TOOLS_BIN_DIR);
  assertExecutable(candidate, kind);
  return { ...candidate, version: await checkS3Binary(kind, candidate.path) };
}
