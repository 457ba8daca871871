import { NativeConnection, Runtime } from '@temporalio/worker';
import { engineInfo, selectEngine } from '../activities/engine/engine.ts';
import { ObjectStore } from '../activities/index.ts';
import { parseWorkerConfig } from './config.ts';
import { createLogger, temporalLoggerFor } from './logger.ts';
import { createWorkers, runWorkers } from './workers.ts';

/**
 * Worker process: `npm run worker` (locally, after `mlp stack up`, use `mlp worker`, which fills
 * in the stack's address and credentials). Configuration comes only from the environment, see
 * worker/config.ts and the README.
 */
async function main(): Promise<void> {
  const config = parseWorkerConfig(process.env);
  const logger = createLogger(config.logLevel);
  Runtime.install({ logger: temporalLoggerFor(logger) });

  // One tfjs backend per process: chosen once here, reported, and used by every train step.
  const engine = await selectEngine(config.engine);
  logger.info({ engine: engineInfo(engine) }, 'Training engine selected');

  const store = new ObjectStore(config.storage);
  await store.ensureBucket();
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const workers = await createWorkers({
    connection,
    namespace: config.temporal.namespace,
    taskQueuePrefix: config.temporal.taskQueuePrefix,
    queues: config.queues,
    deps: { store, scratchDir: config.scratchDir, engine: async () => engine, ...(config.codeVersion ? { codeVersion: config.codeVersion } : {}) },
  });
  logger.info(
    { queues: config.queues, namespace: config.temporal.namespace, address: config.temporal.address, bucket: config.storage.bucket, engine: engine.engine },
    'Worker started',
  );
  try {
    await runWorkers(workers);
  } finally {
    await connection.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
