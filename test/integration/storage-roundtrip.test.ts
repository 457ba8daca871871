import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { ObjectStore } from '../../activities/index.ts';
import { workflowTaskQueue } from '../../common/index.ts';
import { createWorkers } from '../../worker/workers.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

describe('a workflow on the real Temporal dev server with the real S3 server', function () {
  this.timeout(180_000);
  let servers: TestServers;
  let nativeConnection: NativeConnection;
  let connection: Connection;
  let worker: Worker;
  let workerRun: Promise<void>;
  const taskQueuePrefix = `roundtrip-${randomUUID().slice(0, 8)}`;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'roundtrip' });
    nativeConnection = await NativeConnection.connect({ address: servers.temporalAddress });
    connection = await Connection.connect({ address: servers.temporalAddress });
    const store = new ObjectStore(servers.storage);
    [worker] = (await createWorkers({
      connection: nativeConnection,
      namespace: servers.namespace,
      taskQueuePrefix,
      queues: ['cpu'],
      deps: { store, scratchDir: servers.dir },
    })) as [Worker];
    workerRun = worker.run();
  });

  after(async () => {
    worker?.shutdown();
    await workerRun;
    await connection?.close();
    await nativeConnection?.close();
    await servers?.stop();
  });

  it('runs an activity that writes an object and reads the same bytes back', async () => {
    const client = new Client({ connection, namespace: servers.namespace });
    const payload = `chest x-ray probe ${randomUUID()} ✓`;
    const result = await client.workflow.execute('checkStorage', {
      taskQueue: workflowTaskQueue(taskQueuePrefix),
      workflowId: `check-storage-${randomUUID()}`,
      args: [taskQueuePrefix, payload],
    });
    const expected = createHash('sha256').update(payload, 'utf8').digest('hex');
    assert.equal(result.writtenSha256, expected);
    assert.equal(result.readSha256, expected);
    assert.equal(result.bytes, Buffer.byteLength(payload, 'utf8'));

    // Read it again from outside the worker: the object really is in the S3 server.
    const stored = await new ObjectStore(servers.storage).get(result.key);
    assert.equal(stored.toString('utf8'), payload);
    assert.match(result.key, new RegExp(`^checks/${taskQueuePrefix}/`));
  });
});
