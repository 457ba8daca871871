import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { ObjectStore } from '../../activities/object-store.ts';
import { isAlive } from '../../client/servers/launch.ts';
import { SEARCH_ATTRIBUTES } from '../../common/index.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

describe('integration-test server harness', function () {
  this.timeout(120_000);
  let servers: TestServers;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'harness' });
  });

  after(async () => {
    await servers?.stop();
  });

  it('serves the default namespace with the project search attributes registered', async () => {
    const connection = await Connection.connect({ address: servers.temporalAddress });
    try {
      const client = new Client({ connection, namespace: servers.namespace });
      const described = await client.workflowService.describeNamespace({ namespace: servers.namespace });
      assert.equal(described.namespaceInfo?.name, 'default');
      const attributes = await connection.operatorService.listSearchAttributes({ namespace: servers.namespace });
      for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
        assert.ok(attributes.customAttributes?.[name] !== undefined, `search attribute ${name} (${type}) is registered`);
      }
    } finally {
      await connection.close();
    }
  });

  it('gives each start a fresh empty bucket that stores and returns bytes', async () => {
    const store = new ObjectStore(servers.storage);
    assert.match(servers.storage.bucket, /^harness-[0-9a-f]{8}$/);
    assert.deepEqual(await store.list(''), []);
    await store.put('probe/hello.bin', Buffer.from([1, 2, 3, 250]));
    assert.deepEqual(await store.get('probe/hello.bin'), Buffer.from([1, 2, 3, 250]));
  });

  it('stop() kills both servers and removes the temp folder', async () => {
    const other = await startTestServers();
    const pids = [other.pids.temporal, other.pids.s3];
    assert.deepEqual(pids.map((pid) => isAlive(pid)), [true, true]);
    await other.stop();
    assert.equal(existsSync(other.dir), false);
    assert.deepEqual(pids.filter((pid) => isAlive(pid)), []);
  });
});
