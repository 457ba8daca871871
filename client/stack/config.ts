import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../common/index.ts';
import { PROJECT_ROOT } from '../servers/binaries.ts';

/**
 * Settings of the local stack, from flags first, then the environment, then defaults. Parsed
 * once here; everything else gets the normalized `StackConfig`.
 */

const port = z.coerce.number().int().min(1).max(65535);

/** Environment variables the stack reads (flags override them). */
export const stackEnvSchema = z.object({
  /** Folder for the stack's state: SQLite file, S3 data, credentials, pid file, logs. */
  MLP_HOME: z.string().min(1).optional(),
  MLP_STACK_HOST: z.string().min(1).default('127.0.0.1'),
  MLP_TEMPORAL_PORT: port.default(7233),
  MLP_TEMPORAL_UI_PORT: port.default(8233),
  MLP_S3_PORT: port.default(9000),
  MLP_S3_SERVER: z.enum(['versitygw', 'minio']).default('versitygw'),
  MLP_TEMPORAL_BIN: z.string().min(1).optional(),
  MLP_S3_SERVER_BIN: z.string().min(1).optional(),
  /** Bucket created at start; matches the worker's `S3_BUCKET` default. */
  MLP_STACK_BUCKET: z.string().min(3).default('ml-pipelines'),
});

/** Command-line flags of `mlp stack …` (all optional; commander passes strings). */
export interface StackFlags {
  home?: string;
  host?: string;
  temporalPort?: string;
  uiPort?: string;
  s3Port?: string;
  s3Server?: string;
  temporalBin?: string;
  s3ServerBin?: string;
  bucket?: string;
}

export interface StackConfig {
  home: string;
  host: string;
  temporalPort: number;
  uiPort: number;
  s3Port: number;
  s3Server: 'versitygw' | 'minio';
  temporalBin?: string;
  s3ServerBin?: string;
  bucket: string;
}

/** The default state folder, inside the project's git-ignored `.data/`. */
export const DEFAULT_STACK_HOME = join(PROJECT_ROOT, '.data', 'stack');

/** Merges flags over the environment; throws `ConfigError` naming every bad value. */
export function parseStackConfig(flags: StackFlags = {}, env: NodeJS.ProcessEnv = process.env): StackConfig {
  const merged = {
    ...env,
    ...definedOnly({
      MLP_HOME: flags.home,
      MLP_STACK_HOST: flags.host,
      MLP_TEMPORAL_PORT: flags.temporalPort,
      MLP_TEMPORAL_UI_PORT: flags.uiPort,
      MLP_S3_PORT: flags.s3Port,
      MLP_S3_SERVER: flags.s3Server,
      MLP_TEMPORAL_BIN: flags.temporalBin,
      MLP_S3_SERVER_BIN: flags.s3ServerBin,
      MLP_STACK_BUCKET: flags.bucket,
    }),
  };
  const parsed = stackEnvSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid stack settings (flags or environment):\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  const ports = { MLP_TEMPORAL_PORT: e.MLP_TEMPORAL_PORT, MLP_TEMPORAL_UI_PORT: e.MLP_TEMPORAL_UI_PORT, MLP_S3_PORT: e.MLP_S3_PORT };
  if (new Set(Object.values(ports)).size !== 3) {
    throw new ConfigError(`Invalid stack settings: ports must differ, got ${JSON.stringify(ports)}`);
  }
  return {
    home: resolve(e.MLP_HOME ?? DEFAULT_STACK_HOME),
    host: e.MLP_STACK_HOST,
    temporalPort: e.MLP_TEMPORAL_PORT,
    uiPort: e.MLP_TEMPORAL_UI_PORT,
    s3Port: e.MLP_S3_PORT,
    s3Server: e.MLP_S3_SERVER,
    temporalBin: e.MLP_TEMPORAL_BIN,
    s3ServerBin: e.MLP_S3_SERVER_BIN,
    bucket: e.MLP_STACK_BUCKET,
  };
}

function definedOnly(values: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** Where the stack keeps its files inside `home`. */
export function stackPaths(home: string) {
  return {
    home,
    credentials: join(home, 'credentials.json'),
    state: join(home, 'state.json'),
    sqlite: join(home, 'temporal.sqlite'),
    s3Data: join(home, 's3'),
    logs: join(home, 'logs'),
    temporalLog: join(home, 'logs', 'temporal.log'),
    s3Log: join(home, 'logs', 's3.log'),
  };
}

export type StackPaths = ReturnType<typeof stackPaths>;
