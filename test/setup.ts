import { DefaultLogger, Runtime } from '@temporalio/worker';
import { shareTestServers, stopSharedTestServers } from './helpers/shared-servers.ts';

/**
 * Mocha root hooks. Keep the Temporal SDK quiet in test output: many tests fail activities and
 * workflows on purpose, and the SDK logs each as a warning; show errors only (set
 * MLP_TEST_LOG_LEVEL=DEBUG to see worker logs while debugging a test). Share one Temporal dev
 * server and one S3 server across the run (test/helpers/shared-servers.ts): started by the global
 * fixture (test/global-fixtures.ts) for every mocha process of the run, or on first use.
 */
let runtimeInstalled = false;

export const mochaHooks = {
  beforeAll(): void {
    // In parallel mode root hooks run once per file, in worker processes that run several files.
    if (!runtimeInstalled) {
      const level = process.env.MLP_TEST_LOG_LEVEL === 'DEBUG' ? 'DEBUG' : 'ERROR';
      Runtime.install({ logger: new DefaultLogger(level) });
      runtimeInstalled = true;
    }
    shareTestServers();
  },
  async afterAll(): Promise<void> {
    await stopSharedTestServers();
  },
};
