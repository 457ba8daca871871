import { monitorEventLoopDelay } from 'node:perf_hooks';
import { displayUri } from '../activities/tracking/mlflow-client.ts';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { engineInfo, selectEngine } from '../activities/engine/engine.ts';
import { ObjectStore } from '../activities/index.ts';
import { describeTemporalSecurity } from '../common/index.ts';
import { stepCodeFingerprints } from '../activities/step-cache.ts';
import { assertWorkerDeploymentsEnabled, ensureCurrentVersion } from '../common/worker-deployment.ts';
import { resolveBuildId } from './build-id.ts';
import { parseWorkerConfig } from './config.ts';
import { createLogger, temporalLoggerFor } from './logger.ts';
import { stopOnShutdownRequest } from './shutdown.ts';
import { createWorkers, runWorkers } from './workers.ts';

/**
 * Worker process (entry: worker/main.ts; locally, after `mlp stack up`, use `mlp worker`, which
 * fills in the stack's address and credentials). Configuration comes only from the environment,
 * see worker/config.ts and the README. `handOver` ends the launcher watch of the starting phase
 * once the graceful shutdown handler is installed. `workflowsPath` swaps the workflows module
 * (the versioning test's second build); production never passes it.
 */
export async function runWorkerProcess(handOver: () => void, options: { workflowsPath?: string } = {}): Promise<void> {
  const config = parseWorkerConfig(process.env);
  const logger = createLogger(config.logLevel);
  // Shutdown signals are handled in worker/shutdown.ts: graceful, logged, and SIGHUP included.
  Runtime.install({ logger: temporalLoggerFor(logger), shutdownSignals: [] });
  const runsActivities = config.role !== 'workflows';
  const connection = await NativeConnection.connect({ address: config.temporal.address, ...config.temporal.security });
  // Worker Versioning: a namespace that refuses it stops the worker here, before the slow part,
  // naming what to enable, instead of letting it poll into errors.
  const deployment = config.deployment
    ? { name: config.deployment.name, buildId: await resolveBuildId(config.deployment.buildId, config.codeVersion), setCurrent: config.deployment.setCurrent }
    : undefined;
  if (deployment) await assertWorkerDeploymentsEnabled(connection.workflowService, config.temporal);

  // One tfjs backend per process: chosen once here, reported, and used by every train step.
  const engine = runsActivities ? await selectEngine(config.engine, { strict: config.engineStrict }) : undefined;
  if (engine) logger.info({ engine: engineInfo(engine) }, 'Training engine selected');
  // The step cache keys each step on the code that computes it: fingerprinted once, here, and reported.
  const codeFingerprints = runsActivities ? await stepCodeFingerprints() : undefined;
  if (codeFingerprints) logger.info({ codeFingerprints }, 'Step code fingerprinted');

  const store = new ObjectStore(config.storage);
  if (runsActivities) await store.ensureBucket();
  const workers = await createWorkers({
    connection,
    namespace: config.temporal.namespace,
    taskQueuePrefix: config.temporal.taskQueuePrefix,
    queues: config.queues,
    role: config.role,
    shutdownGraceMs: config.shutdownGraceMs,
    ...(deployment ? { deployment } : {}),
    ...(options.workflowsPath ? { workflowsPath: options.workflowsPath } : {}),
    ...(config.maxConcurrentActivities !== undefined ? { maxConcurrentActivities: config.maxConcurrentActivities } : {}),
    deps: {
      store,
      scratchDir: config.scratchDir,
      run: config.run,
      resolveWebhookUrl: config.resolveWebhookUrl,
      ...(config.temporalUiUrl ? { temporalUiUrl: config.temporalUiUrl } : {}),
      ...(engine ? { engine: async () => engine } : {}),
      ...(config.codeVersion ? { codeVersion: config.codeVersion } : {}),
      ...(config.mlflow ? { mlflow: config.mlflow } : {}),
      ...(codeFingerprints ? { codeFingerprints } : {}),
    },
  });
  stopOnShutdownRequest(workers, logger, config.shutdownGraceMs);
  handOver();
  logger.info(
    {
      role: config.role,
      queues: config.queues,
      namespace: config.temporal.namespace,
      address: config.temporal.address,
      // Whether TLS and which credential: never the key or a certificate.
      ...describeTemporalSecurity(config.temporal.security),
      taskQueuePrefix: config.temporal.taskQueuePrefix,
      bucket: config.storage.bucket,
      // The server only: credentials never reach a log line.
      ...(config.mlflow ? { mlflowTrackingUri: displayUri(config.mlflow.uri) } : {}),
      ...(engine ? { engine: engine.engine } : {}),
      ...(deployment ? { deployment: deployment.name, buildId: deployment.buildId } : { versioning: 'off' }),
      pid: process.pid,
    },
    'Worker started',
  );
  const stopping = new AbortController();
  if (deployment) {
    // The version exists on the server once these workers poll; its routing is settled then, in
    // the background: a worker serves its pinned runs whether or not it becomes current.
    void ensureCurrentVersion(connection.workflowService, {
      namespace: config.temporal.namespace,
      deploymentName: deployment.name,
      buildId: deployment.buildId,
      policy: deployment.setCurrent,
      identity: `${process.pid}@mlp-worker`,
      signal: stopping.signal,
    }).then(
      (outcome) => logger.info({ deployment: deployment.name, buildId: deployment.buildId, policy: deployment.setCurrent, outcome }, 'Worker deployment routing'),
      (error: unknown) => {
        // A call cut off by the worker's own shutdown is no news.
        if (!stopping.signal.aborted) logger.error({ deployment: deployment.name, buildId: deployment.buildId, err: error }, 'Cannot set the current version of the worker deployment');
      },
    );
  }
  // How long this process's JS thread was held at a time while serving (a training batch, a
  // workflow task): reported when the worker stops, so `npm run bench:event-loop` and operators
  // can check it against the heartbeat timeout.
  const eventLoopDelay = monitorEventLoopDelay({ resolution: 20 });
  eventLoopDelay.enable();
  try {
    await runWorkers(workers);
  } finally {
    stopping.abort();
    await connection.close();
  }
  eventLoopDelay.disable();
  const ms = (nanoseconds: number): number => Math.round(nanoseconds / 1e6);
  logger.info(
    { role: config.role, eventLoopDelayMs: { p50: ms(eventLoopDelay.percentile(50)), p99: ms(eventLoopDelay.percentile(99)), max: ms(eventLoopDelay.max) } },
    'Worker stopped',
  );
}
