import { join } from 'node:path';
import { TOOLS_DIR } from '../../client/servers/binaries.ts';

/**
 * Where tests keep the Python environments of `run` steps (the worker's MLP_RUN_ENVS_DIR):
 * inside `.tools`, so one CI run (and a developer's later runs) builds each environment once.
 */
export const TEST_RUN_ENVS_DIR = join(TOOLS_DIR, 'run-envs');
