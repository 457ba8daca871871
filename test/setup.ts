import { DefaultLogger, Runtime } from '@temporalio/worker';

/**
 * Mocha root hooks: keep the Temporal SDK quiet in test output (warnings and errors only; set
 * MLP_TEST_LOG_LEVEL=DEBUG to see worker logs while debugging a test).
 */
export const mochaHooks = {
  beforeAll(): void {
    const level = process.env.MLP_TEST_LOG_LEVEL === 'DEBUG' ? 'DEBUG' : 'WARN';
    Runtime.install({ logger: new DefaultLogger(level) });
  },
};
