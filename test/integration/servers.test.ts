import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { ObjectStore } from '../../activities/object-store.ts';
import { isAlive } from '../../client/servers/launch.ts';
import { SEARCH_ATTRIBUTES } from '../../common/index.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';

describe('integration-test server harness', function () {
  this.timeout(120_000);
  let servers: TestServers;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'harness' });
  });

  after(async () => {
    await servers?.stop();
  });

  it('serves a namespace of its own with the project search attributes registered', async () => {
    const connection = await Connection.connect({ address: servers.temporalAddress });
    try {
      const client = new Client({ connection, namespace: servers.namespace });
      const described = await client.workflowService.describeNamespace({ namespace: servers.namespace });
      assert.equal(described.namespaceInfo?.name, servers.namespace);
      assert.match(servers.namespace, /^harness-[0-9a-f]{8}$/);
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

  it("shares the run's servers between tests, each with its own namespace, bucket and folder; stop() removes only its own", async () => {
    const other = await startTestServers({ bucketPrefix: 'harness' });
    try {
      assert.equal(other.temporalAddress, servers.temporalAddress);
      assert.equal(other.storage.endpoint, servers.storage.endpoint);
      assert.notEqual(other.namespace, servers.namespace);
      assert.notEqual(other.storage.bucket, servers.storage.bucket);
      assert.notEqual(other.dir, servers.dir);
      const store = new ObjectStore(other.storage);
      assert.deepEqual(await store.list(''), [], "another test's objects are not in this bucket");
      await store.put('probe/other.bin', Buffer.from([7]));
    } finally {
      await other.stop();
    }
    assert.equal(existsSync(other.dir), false);
    assert.equal(await new ObjectStore(other.storage).exists('probe/other.bin'), false, 'its bucket went with it');
    assert.deepEqual([isAlive(servers.pids.temporal), isAlive(servers.pids.s3)], [true, true]);
    assert.deepEqual(await new ObjectStore(servers.storage).get('probe/hello.bin'), Buffer.from([1, 2, 3, 250]));
  });

  it('stop() ends the schedules and open runs a test leaves behind, so they cannot load the shared server for later tests', async () => {
    const other = await startTestServers({ bucketPrefix: 'harness' });
    const connection = await Connection.connect({ address: other.temporalAddress });
    try {
      const client = new Client({ connection, namespace: other.namespace });
      // No worker polls this queue: the run stays open and the schedule would fire every hour.
      const run = await client.workflow.start('nothingServesThis', { taskQueue: 'nobody', workflowId: 'left-open' });
      const schedule = await client.schedule.create({
        scheduleId: 'left-behind',
        spec: { intervals: [{ every: '1h' }] },
        action: { type: 'startWorkflow', workflowType: 'nothingServesThis', taskQueue: 'nobody' },
      });
      await waitUntil('the open run and the schedule in visibility', async () => {
        const runs = [];
        for await (const info of client.workflow.list({ query: `ExecutionStatus = 'Running'` })) runs.push(info.workflowId);
        const schedules = [];
        for await (const listed of client.schedule.list()) schedules.push(listed.scheduleId);
        return runs.includes('left-open') && schedules.includes('left-behind') ? true : undefined;
      });
      await other.stop();
      assert.equal((await run.describe()).status.name, 'TERMINATED');
      await assert.rejects(schedule.describe(), { name: 'ScheduleNotFoundError' });
    } finally {
      await connection.close();
      await other.stop();
    }
  });

  it('refuses to kill or restart shared servers, naming the option that gives a test its own', async () => {
    await assert.rejects(servers.kill('s3'), /startTestServers\(\{ exclusive: true \}\)/);
    await assert.rejects(servers.restart('temporal'), /startTestServers\(\{ exclusive: true \}\)/);
  });

  it('stop() kills servers of its own and removes the temp folder', async () => {
    const own = await startTestServers({ exclusive: true });
    assert.notEqual(own.temporalAddress, servers.temporalAddress);
    const pids = [own.pids.temporal, own.pids.s3];
    assert.deepEqual(pids.map((pid) => isAlive(pid)), [true, true]);
    await own.stop();
    assert.equal(existsSync(own.dir), false);
    assert.deepEqual(pids.filter((pid) => isAlive(pid)), []);
  });
});
