import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../common/errors.ts';
import { readSecretVariable } from '../common/secret-variable.ts';
import type { StorageConfig } from '../common/storage-config.ts';
import { findConfigFile, type ConnectionFlags } from './connection.ts';
import { parseStackConfig } from './stack/config.ts';
import { stackConnection } from './stack/connection.ts';

/**
 * How the CLI reaches object storage, for what cannot travel through Temporal (a run step's code,
 * up to 50 MiB). The worker's variables (S3_*, worker/config.ts), so one `.env` serves both;
 * without them, the running local stack's storage, but only when Temporal is the local stack's
 * too (no address given): a run on a remote cluster must not find its code on this machine.
 */

const storageEnvSchema = z.object({
  S3_ENDPOINT: z.url().default('http://127.0.0.1:9000'),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: z.string().min(3).default('ml-pipelines'),
});

const STORAGE_VARIABLES = ['S3_ENDPOINT', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_ACCESS_KEY_ID_FILE', 'S3_SECRET_ACCESS_KEY', 'S3_SECRET_ACCESS_KEY_FILE'] as const;

/** An S3 secret given inline or as a file path (`<name>_FILE`, e.g. a Docker secret), as the worker reads it. */
function secret(env: NodeJS.ProcessEnv, name: 'S3_ACCESS_KEY_ID' | 'S3_SECRET_ACCESS_KEY'): string {
  const value = readSecretVariable(env, name, (path) => readFileSync(path, 'utf8'));
  if (value === undefined) throw new ConfigError(`${name} (or ${name}_FILE) is not set: the CLI uploads run steps' code to object storage with the worker's S3 settings`);
  return value;
}

/** The object storage this command uses; ConfigError naming what to set when there is none. */
export function loadClientStorage(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): StorageConfig {
  if (STORAGE_VARIABLES.some((name) => env[name] !== undefined)) {
    const parsed = storageEnvSchema.safeParse(env);
    if (!parsed.success) {
      throw new ConfigError(`Invalid object storage settings: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
    }
    return {
      endpoint: parsed.data.S3_ENDPOINT,
      region: parsed.data.S3_REGION,
      bucket: parsed.data.S3_BUCKET,
      accessKeyId: secret(env, 'S3_ACCESS_KEY_ID'),
      secretAccessKey: secret(env, 'S3_SECRET_ACCESS_KEY'),
    };
  }
  const addressGiven = flags.address ?? env['TEMPORAL_ADDRESS'] ?? findConfigFile(flags, env).address;
  if (addressGiven === undefined) {
    try {
      return stackConnection(parseStackConfig({}, env)).storage;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
    }
  }
  throw new ConfigError(
    `No object storage for run steps' code: set S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (the worker's settings)${addressGiven === undefined ? ', or start the local stack with `mlp stack up`' : ''}`,
  );
}
