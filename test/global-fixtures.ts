import { startServerPair } from './helpers/server-pair.ts';
import type { TestServers } from './helpers/servers.ts';
import { SHARED_SERVERS_ENV, sharedServersDescription } from './helpers/shared-servers.ts';

/**
 * Mocha global fixtures: one Temporal dev server and one S3 server for the whole mocha run,
 * started in mocha's own process before any test file loads. In parallel mode every mocha worker
 * process is forked after this and inherits the pair's address through the environment
 * (SHARED_SERVERS_ENV), so all of them share it; tests still get a namespace and bucket each.
 */
let pair: TestServers | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  pair = await startServerPair({ bucketPrefix: 'shared' });
  process.env[SHARED_SERVERS_ENV] = sharedServersDescription(pair);
}

export async function mochaGlobalTeardown(): Promise<void> {
  delete process.env[SHARED_SERVERS_ENV];
  await pair?.stop();
}
