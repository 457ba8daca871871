import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { ConfigError } from '../common/errors.ts';
import { resolveTemporalSecurity, type TemporalSecurity } from '../common/temporal-security.ts';
import { parseClientConfig, type ClientConfig, type ClientFlags } from './config.ts';
import { parseStackConfig } from './stack/config.ts';
import { stackConnection } from './stack/connection.ts';

/**
 * Where the CLI's connection settings come from, first match per field: flags, environment, a
 * config file, the running local stack (only when nothing above names an address), defaults.
 */

/** Flags of every command that talks to Temporal. */
export interface ConnectionFlags extends ClientFlags {
  config?: string;
}

/** A config file: the same settings as the flags; unknown keys are typos. */
export const clientConfigFileSchema = z.strictObject({
  address: z.string().min(1).optional(),
  namespace: z.string().min(1).optional(),
  taskQueuePrefix: z.string().min(1).optional(),
  uiUrl: z.url().optional(),
});

export type ClientConfigFile = z.infer<typeof clientConfigFileSchema>;

/** Config files looked for when neither `--config` nor `MLP_CONFIG` names one, in order. */
export function defaultConfigFiles(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  const configHome = env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config');
  return [join(cwd, '.mlprc.json'), join(configHome, 'mlp', 'config.json')];
}

/** Reads and validates one config file; throws ConfigError naming the file and the problem. */
export function readConfigFile(path: string): ClientConfigFile {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`Cannot read config file ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const parsed = clientConfigFileSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw new ConfigError(`Invalid config file ${path}: ${problems}`);
  }
  return parsed.data;
}

/** The config file in effect: the one named (it must exist), else the first default that exists. */
export function findConfigFile(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): ClientConfigFile & { path?: string } {
  const named = flags.config ?? env['MLP_CONFIG'];
  if (named !== undefined) return { ...readConfigFile(resolve(named)), path: resolve(named) };
  const found = defaultConfigFiles(env).find((path) => existsSync(path));
  return found === undefined ? {} : { ...readConfigFile(found), path: found };
}

/** Address, namespace and UI of the running local stack, or nothing when it is not up. */
function localStackSettings(env: NodeJS.ProcessEnv): Partial<ClientConfig> {
  try {
    const stack = stackConnection(parseStackConfig({}, env));
    return { address: stack.temporalAddress, namespace: stack.namespace, uiUrl: stack.uiUrl };
  } catch {
    // Not running (or half torn down): the stack is only a convenience default.
    return {};
  }
}

/** The settings in effect for this command. */
export function loadClientConfig(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const { path: _path, ...file } = findConfigFile(flags, env);
  const addressGiven = flags.address ?? env['TEMPORAL_ADDRESS'] ?? file.address;
  const stack = addressGiven === undefined ? localStackSettings(env) : {};
  return parseClientConfig(flags, env, { ...stack, ...file });
}

/** Adds the connection flags (and their help) to a command. */
export function withConnectionOptions(command: Command): Command {
  return command
    .option('--address <host:port>', 'Temporal frontend (env TEMPORAL_ADDRESS; default: config file, running local stack, 127.0.0.1:7233)')
    .option('--namespace <name>', 'Temporal namespace (env TEMPORAL_NAMESPACE, default default)')
    .option('--task-queue-prefix <prefix>', 'task queue prefix (env MLP_TASK_QUEUE_PREFIX, default ml-pipelines)')
    .option('--ui-url <url>', 'Temporal Web UI base URL (env MLP_TEMPORAL_UI_URL, default http://localhost:8233)')
    .option('--config <file>', 'config file (env MLP_CONFIG; default ./.mlprc.json, then ~/.config/mlp/config.json)');
}

export interface ConnectedClient {
  client: Client;
  config: ClientConfig;
  close(): Promise<void>;
}

/**
 * How long the CLI waits for a Temporal frontend to answer before saying it cannot reach it. A
 * local or in-cluster frontend answers in milliseconds; the SDK's default (10 s) reads as a hang.
 */
export const TEMPORAL_CONNECT_TIMEOUT = '5s';

/**
 * TLS, mTLS or API key for the CLI's connection, from the same variables the workers read
 * (`TEMPORAL_TLS_*`, `TEMPORAL_API_KEY[_FILE]`: common/temporal-security.ts). Environment only:
 * secrets stay out of flags (visible in `ps`) and config files.
 */
export function temporalSecurityFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalSecurity {
  return resolveTemporalSecurity(env, (file) => readFileSync(file));
}

/** Connects to the Temporal frontend at `address`; an unreachable one is a ConfigError naming it, within seconds. */
export async function connectTemporal(address: string, security: TemporalSecurity = temporalSecurityFromEnv()): Promise<Connection> {
  try {
    return await Connection.connect({ address, connectTimeout: TEMPORAL_CONNECT_TIMEOUT, ...security });
  } catch (error) {
    throw new ConfigError(
      `Cannot connect to Temporal at ${address}: ${error instanceof Error ? error.message : String(error)} (start the local stack with \`mlp stack up\`, or set --address)`,
      { cause: error },
    );
  }
}

/** Connects to Temporal with the settings in effect; call `close()` when done. */
export async function connectClient(flags: ConnectionFlags): Promise<ConnectedClient> {
  const config = loadClientConfig(flags);
  const connection = await connectTemporal(config.address);
  return { client: new Client({ connection, namespace: config.namespace }), config, close: () => connection.close() };
}
