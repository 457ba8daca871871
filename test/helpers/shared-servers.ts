import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { z } from 'zod';
import { ensureBucket } from '../../client/servers/launch.ts';
import { SEARCH_ATTRIBUTES, type SearchAttributeName } from '../../common/index.ts';
import { s3DataDir, startServerPair } from './server-pair.ts';
import type { TestServerOptions, TestServers } from './servers.ts';

// A default import: the package is CommonJS, and `tsx <script>` (benches) loads it as ESM, where named imports fail.
const { temporal } = proto;

/**
 * One Temporal dev server and one S3 server for a whole mocha run, started when the first test
 * asks and stopped by the root `afterAll` hook: starting a pair per test file cost seconds each.
 * Each test gets a view with a namespace and a bucket of its own, so it sees the same empty world
 * it would on servers of its own (listing runs, models or schedules finds only its own).
 */

interface SharedPair {
  servers: TestServers;
  /** Registers the views' namespaces. */
  connection: Connection;
}

let sharing = false;
let shared: Promise<SharedPair> | undefined;

const { IndexedValueType } = temporal.api.enums.v1;
const INDEXED_VALUE_TYPE: Record<(typeof SEARCH_ATTRIBUTES)[SearchAttributeName], proto.temporal.api.enums.v1.IndexedValueType> = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
};

/** From now on `startTestServers` hands out views of the shared pair; whoever calls this stops it with `stopSharedTestServers`. */
export function shareTestServers(): void {
  sharing = true;
}

export function sharingTestServers(): boolean {
  return sharing;
}

/** Stops the shared pair, if it was started; the next view would start a new one. */
export async function stopSharedTestServers(): Promise<void> {
  const pair = await shared?.catch(() => undefined);
  shared = undefined;
  if (pair === undefined) return;
  await pair.connection.close();
  await pair.servers.stop();
}

/** Set by the global fixture (test/global-fixtures.ts): the run's pair, for every mocha worker process. */
export const SHARED_SERVERS_ENV = 'MLP_TEST_SHARED_SERVERS';

const sharedServersSchema = z.object({
  temporalAddress: z.string(),
  storage: z.object({ endpoint: z.string(), region: z.string(), bucket: z.string(), accessKeyId: z.string(), secretAccessKey: z.string() }),
  dir: z.string(),
  logs: z.object({ temporal: z.string(), s3: z.string() }),
  pids: z.object({ temporal: z.number(), s3: z.number() }),
});

/** What a process needs to use a pair another process started (and will stop). */
export function sharedServersDescription(servers: TestServers): string {
  const { temporalAddress, storage, dir, logs, pids } = servers;
  return JSON.stringify({ temporalAddress, storage, dir, logs, pids });
}

/** The pair the global fixture started, if any: this process uses it and leaves stopping it to its owner. */
function inheritedPair(): TestServers | undefined {
  const text = process.env[SHARED_SERVERS_ENV];
  if (text === undefined) return undefined;
  const described = sharedServersSchema.parse(JSON.parse(text));
  const notOurs = (): Promise<never> => Promise.reject(new Error('the shared pair belongs to the mocha run'));
  return { ...described, namespace: 'default', stop: async () => undefined, kill: notOurs, restart: notOurs };
}

function sharedPair(options: TestServerOptions): Promise<SharedPair> {
  if (shared !== undefined) return shared;
  const starting = (async () => {
    const servers = inheritedPair() ?? await startServerPair({ bucketPrefix: 'shared', ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}) });
    try {
      return { servers, connection: await Connection.connect({ address: servers.temporalAddress }) };
    } catch (error) {
      await servers.stop();
      throw error;
    }
  })();
  shared = starting;
  // A pair that failed to start fails this test; the next one tries again.
  starting.catch(() => {
    if (shared === starting) shared = undefined;
  });
  return starting;
}

/** A namespace as the dev server's own `--namespace` flag makes them: with the project's search attributes. */
async function registerNamespace(connection: Connection, namespace: string): Promise<void> {
  // fromObject turns the plain seconds into the Long the request type wants.
  await connection.workflowService.registerNamespace(
    temporal.api.workflowservice.v1.RegisterNamespaceRequest.fromObject({ namespace, workflowExecutionRetentionPeriod: { seconds: 24 * 60 * 60 } }),
  );
  const searchAttributes = Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, INDEXED_VALUE_TYPE[type]]));
  await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
}

/**
 * Deletes the namespace's schedules and terminates its open runs, which would otherwise go on
 * (an every-second cron, a run's timers) while later tests use the server. Best effort: the
 * lists come from visibility, which may lag a run started a moment ago.
 */
async function endWhatRuns(connection: Connection, namespace: string): Promise<void> {
  const client = new Client({ connection, namespace });
  for await (const schedule of client.schedule.list()) {
    await client.schedule.getHandle(schedule.scheduleId).delete().catch(() => undefined);
  }
  for await (const run of client.workflow.list({ query: `ExecutionStatus = 'Running'` })) {
    await client.workflow.getHandle(run.workflowId, run.runId).terminate('the test that started it has ended').catch(() => undefined);
  }
}

/** This test's view of the shared pair: its own namespace, bucket and temp folder. */
export async function openSharedView(options: TestServerOptions): Promise<TestServers> {
  const { servers, connection } = await sharedPair(options);
  // Bucket names allow fewer characters than namespace names, so one name fits both.
  const name = `${options.bucketPrefix ?? 'test'}-${randomUUID().slice(0, 8)}`;
  const storage = { ...servers.storage, bucket: name };
  await Promise.all([registerNamespace(connection, name), ensureBucket(storage)]);
  const dir = mkdtempSync(join(tmpdir(), 'mlp-test-'));
  const needsOwnServers = (call: string): Promise<never> =>
    Promise.reject(new Error(`${call} would take the servers away from every other test of the run: use startTestServers({ exclusive: true })`));
  let stopped = false;
  return {
    temporalAddress: servers.temporalAddress,
    namespace: name,
    storage,
    dir,
    logs: servers.logs,
    pids: servers.pids,
    async stop() {
      if (stopped) return;
      stopped = true;
      await endWhatRuns(connection, name);
      // The S3 server keeps each bucket in a folder of its data folder: removing it drops every
      // object at once, where deleting them through S3 takes a request per object. The namespace
      // stays: the in-memory server forgets it when the run ends.
      rmSync(join(s3DataDir(servers.dir), name), { recursive: true, force: true });
      if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
    },
    kill: (server) => needsOwnServers(`kill('${server}')`),
    restart: (server) => needsOwnServers(`restart('${server}')`),
  };
}
