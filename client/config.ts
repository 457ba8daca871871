import { z } from 'zod';
import { ConfigError, DEFAULT_TASK_QUEUE_PREFIX, taskQueuePrefixSchema } from '../common/index.ts';
import { temporalRunUrl } from '../common/notifications.ts';

/**
 * How the CLI reaches Temporal: environment first, flags over it, parsed once with zod. The
 * variable names match the worker's (`worker/config.ts`) so one `.env` serves both.
 */
export const clientEnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  MLP_TASK_QUEUE_PREFIX: taskQueuePrefixSchema.default(DEFAULT_TASK_QUEUE_PREFIX),
  /** Base URL of the Temporal Web UI, for the links the CLI prints. */
  MLP_TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),
});

/** Flags that override the environment (commander option names). */
export interface ClientFlags {
  address?: string;
  namespace?: string;
  taskQueuePrefix?: string;
  uiUrl?: string;
}

export interface ClientConfig {
  address: string;
  namespace: string;
  taskQueuePrefix: string;
  uiUrl: string;
}

/**
 * Flags over the environment over `fallback` (a config file, then the running local stack: see
 * client/connection.ts) over the defaults.
 */
export function parseClientConfig(
  flags: ClientFlags,
  env: NodeJS.ProcessEnv = process.env,
  fallback: Partial<ClientConfig> = {},
): ClientConfig {
  const parsed = clientEnvSchema.safeParse({
    TEMPORAL_ADDRESS: flags.address ?? env['TEMPORAL_ADDRESS'] ?? fallback.address,
    TEMPORAL_NAMESPACE: flags.namespace ?? env['TEMPORAL_NAMESPACE'] ?? fallback.namespace,
    MLP_TASK_QUEUE_PREFIX: flags.taskQueuePrefix ?? env['MLP_TASK_QUEUE_PREFIX'] ?? fallback.taskQueuePrefix,
    MLP_TEMPORAL_UI_URL: flags.uiUrl ?? env['MLP_TEMPORAL_UI_URL'] ?? fallback.uiUrl,
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ConfigError(`Invalid client configuration: ${problems}`);
  }
  const config = parsed.data;
  return {
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueuePrefix: config.MLP_TASK_QUEUE_PREFIX,
    uiUrl: config.MLP_TEMPORAL_UI_URL.replace(/\/+$/, ''),
  };
}

/** Link to a run in the Temporal Web UI. */
export function workflowUiUrl(config: ClientConfig, workflowId: string, runId?: string): string {
  return temporalRunUrl(config.uiUrl, config.namespace, workflowId, runId);
}
