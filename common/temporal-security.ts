import { z } from 'zod';
import { ConfigError } from './errors.ts';

/**
 * How workers and the CLI authenticate to a Temporal cluster: plain (a local or in-cluster
 * frontend), TLS with a private CA, mTLS with a client certificate (self-hosted, Temporal Cloud)
 * or an API key (Temporal Cloud). The variable names are the `temporal` CLI's, so one set of
 * variables serves the project and `temporal` alike; `TEMPORAL_API_KEY_FILE` is ours (a mounted
 * secret instead of a value in the environment).
 *
 * Pure: the files are read by the caller's `readFile`, so this module stays sandbox-safe.
 */

const bool = () =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value === '') return undefined;
      const normalized = value.trim().toLowerCase();
      if (normalized === 'true' || normalized === '1') return true;
      if (normalized === 'false' || normalized === '0') return false;
      context.addIssue({ code: 'custom', message: `expected true or false, got "${value}"` });
      return undefined;
    });

const path = z.string().min(1, 'expected a file path, got an empty value').optional();

/** The environment variables of the connection's security, for the worker and client schemas. */
export const temporalSecurityEnvShape = {
  /** `true` turns TLS on with the system's roots (implied by any other TLS setting or an API key). */
  TEMPORAL_TLS: bool(),
  /** PEM client certificate for mTLS; needs TEMPORAL_TLS_CLIENT_KEY_PATH. */
  TEMPORAL_TLS_CLIENT_CERT_PATH: path,
  /** PEM private key of the client certificate. */
  TEMPORAL_TLS_CLIENT_KEY_PATH: path,
  /** PEM CA bundle that signed the server's certificate (a private CA); default: system roots. */
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: path,
  /** Name to verify in the server's certificate when it differs from the address's host. */
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1, 'expected a host name, got an empty value').optional(),
  /** Temporal Cloud API key (prefer TEMPORAL_API_KEY_FILE: a mounted secret). Never logged. */
  TEMPORAL_API_KEY: z.string().min(1, 'expected an API key, got an empty value').optional(),
  /** File holding the API key (e.g. a Kubernetes secret volume); trailing newline ignored. */
  TEMPORAL_API_KEY_FILE: path,
};

const temporalSecurityEnvSchema = z.object(temporalSecurityEnvShape);
export type TemporalSecurityEnv = z.infer<typeof temporalSecurityEnvSchema>;

/** Structurally the SDK's `TLSConfig` (common/ may not import @temporalio/*). */
export interface TemporalTlsConfig {
  serverNameOverride?: string;
  serverRootCACertificate?: Uint8Array;
  clientCertPair?: { crt: Uint8Array; key: Uint8Array };
}

/** What `Connection.connect` / `NativeConnection.connect` take besides the address. */
export interface TemporalSecurity {
  /** Absent: plain connection. */
  tls?: TemporalTlsConfig;
  apiKey?: string;
}

/** How the connection authenticates, for logs (never the key or a certificate). */
export function describeTemporalSecurity(security: TemporalSecurity): { tls: boolean; auth: 'api-key' | 'mtls' | 'none' } {
  return {
    tls: security.tls !== undefined,
    auth: security.apiKey !== undefined ? 'api-key' : security.tls?.clientCertPair ? 'mtls' : 'none',
  };
}

/** Reads a file named by a variable; throws with the variable and the path, never the content. */
export type ReadSecretFile = (path: string) => Uint8Array;

function readNamed(readFile: ReadSecretFile, variable: string, file: string): Uint8Array {
  try {
    return readFile(file);
  } catch (error) {
    throw new ConfigError(`Cannot read ${variable} at ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Parses the security variables of `env` and reads the files they name. Throws `ConfigError`
 * naming the variable for a bad value, an unreadable file or an incomplete pair; the API key's
 * value never appears in a message.
 */
export function resolveTemporalSecurity(env: Record<string, string | undefined>, readFile: ReadSecretFile): TemporalSecurity {
  const parsed = temporalSecurityEnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid Temporal connection settings:\n  ${problems.join('\n  ')}`);
  }
  return securityFrom(parsed.data, readFile);
}

/** The same as `resolveTemporalSecurity`, from variables already parsed by a larger schema. */
export function securityFrom(e: TemporalSecurityEnv, readFile: ReadSecretFile): TemporalSecurity {
  if ((e.TEMPORAL_TLS_CLIENT_CERT_PATH === undefined) !== (e.TEMPORAL_TLS_CLIENT_KEY_PATH === undefined)) {
    const [set, missing] =
      e.TEMPORAL_TLS_CLIENT_CERT_PATH === undefined
        ? ['TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_CLIENT_CERT_PATH']
        : ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH'];
    throw new ConfigError(`${set} is set but ${missing} is not: mTLS needs both the client certificate and its key`);
  }
  if (e.TEMPORAL_API_KEY !== undefined && e.TEMPORAL_API_KEY_FILE !== undefined) {
    throw new ConfigError('Set either TEMPORAL_API_KEY or TEMPORAL_API_KEY_FILE, not both');
  }
  const tlsSettingNamed = [
    e.TEMPORAL_TLS_CLIENT_CERT_PATH && 'TEMPORAL_TLS_CLIENT_CERT_PATH',
    e.TEMPORAL_TLS_SERVER_CA_CERT_PATH && 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
    e.TEMPORAL_TLS_SERVER_NAME && 'TEMPORAL_TLS_SERVER_NAME',
  ].find((name) => typeof name === 'string');
  const apiKeyNamed = e.TEMPORAL_API_KEY !== undefined || e.TEMPORAL_API_KEY_FILE !== undefined;
  if (e.TEMPORAL_TLS === false && (tlsSettingNamed || apiKeyNamed)) {
    throw new ConfigError(
      `TEMPORAL_TLS is false but ${tlsSettingNamed ?? 'an API key'} is set: ${tlsSettingNamed ? 'TLS settings need TLS' : 'an API key is only sent over TLS'}`,
    );
  }

  let apiKey = e.TEMPORAL_API_KEY;
  if (e.TEMPORAL_API_KEY_FILE !== undefined) {
    apiKey = new TextDecoder().decode(readNamed(readFile, 'TEMPORAL_API_KEY_FILE', e.TEMPORAL_API_KEY_FILE)).trim();
    if (apiKey === '') throw new ConfigError(`TEMPORAL_API_KEY_FILE at ${e.TEMPORAL_API_KEY_FILE} is empty`);
  }

  const useTls = e.TEMPORAL_TLS === true || tlsSettingNamed !== undefined || apiKey !== undefined;
  if (!useTls) return {};
  const tls: TemporalTlsConfig = {};
  if (e.TEMPORAL_TLS_SERVER_NAME !== undefined) tls.serverNameOverride = e.TEMPORAL_TLS_SERVER_NAME;
  if (e.TEMPORAL_TLS_SERVER_CA_CERT_PATH !== undefined) {
    tls.serverRootCACertificate = readNamed(readFile, 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', e.TEMPORAL_TLS_SERVER_CA_CERT_PATH);
  }
  if (e.TEMPORAL_TLS_CLIENT_CERT_PATH !== undefined && e.TEMPORAL_TLS_CLIENT_KEY_PATH !== undefined) {
    tls.clientCertPair = {
      crt: readNamed(readFile, 'TEMPORAL_TLS_CLIENT_CERT_PATH', e.TEMPORAL_TLS_CLIENT_CERT_PATH),
      key: readNamed(readFile, 'TEMPORAL_TLS_CLIENT_KEY_PATH', e.TEMPORAL_TLS_CLIENT_KEY_PATH),
    };
  }
  return { tls, ...(apiKey !== undefined ? { apiKey } : {}) };
}
