import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../common/index.ts';

/**
 * The local S3 server's root credentials: generated once (crypto random) on the first
 * `stack up`, kept in a 0600 file, and never printed in full.
 */

const credentialsSchema = z.strictObject({
  accessKeyId: z.string().min(3),
  secretAccessKey: z.string().min(8),
  createdAt: z.string(),
});

export type StackCredentials = z.infer<typeof credentialsSchema>;

/** Fresh random credentials (S3 servers want ≥3 and ≥8 characters). */
export function generateCredentials(now = new Date()): StackCredentials {
  return {
    accessKeyId: `mlp${randomBytes(8).toString('hex')}`,
    secretAccessKey: randomBytes(30).toString('base64url'),
    createdAt: now.toISOString(),
  };
}

/** Reads the credentials file; throws `ConfigError` when it is unreadable or malformed. */
export function readCredentials(file: string): StackCredentials {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read stack credentials at ${file}: ${(error as Error).message} (run \`mlp stack up\` first)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Stack credentials at ${file} are not JSON: ${(error as Error).message}`);
  }
  const parsed = credentialsSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(`Stack credentials at ${file} are malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

/**
 * Returns the stored credentials, creating the file (mode 0600) on first use. A file that
 * others can read is tightened to 0600 rather than trusted as is.
 */
export function loadOrCreateCredentials(file: string): { credentials: StackCredentials; created: boolean } {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, `${JSON.stringify(generateCredentials(), null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return { credentials: readCredentials(file), created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return { credentials: readCredentials(file), created: false };
}

/** `abcd…(40 chars)`: enough to tell two keys apart, never the whole secret. */
export function maskSecret(secret: string): string {
  const shown = secret.length >= 12 ? secret.slice(0, 4) : '';
  return `${shown}…(${secret.length} chars)`;
}
