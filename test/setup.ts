import { DefaultLogger, Runtime } from '@temporalio/worker';

/**
 * Mocha root hooks: keep the Temporal SDK quiet in test output. Many tests fail activities and
 * workflows on purpose, and the SDK logs each as a warning; show errors only (set
 * MLP_TEST_LOG_LEVEL=DEBUG to see worker logs while debugging a test).
 */
export const mochaHooks = {
  beforeAll(): void {
    const level = process.env.MLP_TEST_LOG_LEVEL === 'DEBUG' ? 'DEBUG' : 'ERROR';
    Runtime.install({ logger: new DefaultLogger(level) });
  },
};
