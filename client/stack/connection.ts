import { ConfigError, type StorageConfig } from '../../common/index.ts';
import { parseStackConfig, stackPaths, type StackConfig } from './config.ts';
import { readCredentials } from './credentials.ts';
import { isOurProcess, readState } from './state.ts';

/**
 * How local runs (`mlp worker`, the demo, `mlp run`) reach the running local stack: the ports
 * come from the stack's pid file, the credentials from its 0600 file.
 */

export interface StackConnection {
  temporalAddress: string;
  namespace: string;
  uiUrl: string;
  storage: StorageConfig;
}

/** Connection settings of the running stack; throws `ConfigError` when it is not up. */
export function stackConnection(config: StackConfig = parseStackConfig()): StackConnection {
  const paths = stackPaths(config.home);
  const state = readState(paths.state);
  if (!state?.temporal || !state.s3 || !isOurProcess(state.temporal) || !isOurProcess(state.s3)) {
    throw new ConfigError(`The local stack in ${config.home} is not running: start it with \`mlp stack up\``);
  }
  const credentials = readCredentials(paths.credentials);
  return {
    temporalAddress: `${state.host}:${state.temporal.port}`,
    namespace: 'default',
    uiUrl: `http://${state.host}:${state.temporal.uiPort}`,
    storage: {
      endpoint: `http://${state.host}:${state.s3.port}`,
      region: 'us-east-1',
      bucket: state.s3.bucket,
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
    },
  };
}

/**
 * The worker environment (see worker/config.ts) pointing at the stack, for spawning a worker
 * process. Contains the secret: pass it to the child's env, never print it.
 */
export function stackWorkerEnv(connection: StackConnection): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: connection.temporalAddress,
    TEMPORAL_NAMESPACE: connection.namespace,
    S3_ENDPOINT: connection.storage.endpoint,
    S3_REGION: connection.storage.region,
    S3_BUCKET: connection.storage.bucket,
    S3_ACCESS_KEY_ID: connection.storage.accessKeyId,
    S3_SECRET_ACCESS_KEY: connection.storage.secretAccessKey,
    // A developer's worker runs the code just edited: new runs should go to it, whatever build
    // was current before (older pinned runs still need their own build: `mlp deploy status`).
    MLP_DEPLOYMENT_SET_CURRENT: 'always',
  };
}
