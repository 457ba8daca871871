import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { ObjectStore } from '../../activities/object-store.ts';
import { PROJECT_ROOT } from '../../client/servers/binaries.ts';
import { freePort, isRunning } from '../../client/servers/launch.ts';
import { parseStackConfig } from '../../client/stack/config.ts';
import { stackConnection } from '../../client/stack/connection.ts';
import { stackDown } from '../../client/stack/stack.ts';

const run = promisify(execFile);

/** Just the fields of `--json` output these tests read. */
const statusSchema = z.object({
  healthy: z.boolean(),
  temporal: z.object({ healthy: z.boolean(), uiHealthy: z.boolean(), pid: z.number().optional(), address: z.string(), uiUrl: z.string() }),
  s3: z.object({ healthy: z.boolean(), pid: z.number().optional(), accessKeyId: z.string().optional(), secretAccessKey: z.string().optional() }),
});
const upSchema = z.object({
  temporal: z.enum(['started', 'already running']),
  s3: z.enum(['started', 'already running']),
  credentialsCreated: z.boolean(),
  status: statusSchema,
});
const downSchema = z.object({ temporal: z.enum(['stopped', 'not running']), s3: z.enum(['stopped', 'not running']) });

describe('local stack (mlp stack up | status | down)', function () {
  this.timeout(180_000);
  let home: string;
  let flags: string[];

  /** Runs the real CLI; returns parsed `--json` stdout and the exit code. */
  async function mlp(...args: string[]): Promise<{ json: unknown; code: number; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'client/bin.ts', 'stack', ...args, ...flags, '--json'], { cwd: PROJECT_ROOT, timeout: 150_000 });
      return { json: JSON.parse(stdout), code: 0, stderr };
    } catch (error) {
      const failed = z.object({ stdout: z.string(), stderr: z.string(), code: z.number() }).parse(error);
      if (!failed.stdout) throw new Error(`mlp stack ${args.join(' ')} failed with exit code ${failed.code}:\n${failed.stderr}`, { cause: error });
      return { json: JSON.parse(failed.stdout), code: failed.code, stderr: failed.stderr };
    }
  }

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'mlp-stack-'));
    const ports = [await freePort(), await freePort(), await freePort()];
    flags = ['--home', home, '--temporal-port', String(ports[0]), '--ui-port', String(ports[1]), '--s3-port', String(ports[2])];
  });

  after(async () => {
    // In-process, so a broken CLI cannot leave servers behind.
    await stackDown(parseStackConfig({ home }, {}));
    rmSync(home, { recursive: true, force: true });
  });

  it('keeps workflow histories and objects across down and up, and down leaves no server running', async () => {
    // First start: both servers come up healthy with fresh credentials.
    const up = upSchema.parse((await mlp('up')).json);
    assert.deepEqual([up.temporal, up.s3, up.credentialsCreated], ['started', 'started', true]);

    const status = await mlp('status');
    const healthy = statusSchema.parse(status.json);
    assert.equal(status.code, 0);
    assert.deepEqual([healthy.healthy, healthy.temporal.healthy, healthy.temporal.uiHealthy, healthy.s3.healthy], [true, true, true, true]);
    const secret = JSON.parse(readFileSync(join(home, 'credentials.json'), 'utf8')).secretAccessKey;
    assert.ok(!JSON.stringify(status.json).includes(secret), 'status never prints the secret in full');

    const ui = await fetch(`${healthy.temporal.uiUrl}/`);
    assert.equal(ui.status, 200);
    await ui.body?.cancel();

    // A run with no worker stays open: it must survive the restart.
    const connection = stackConnection(parseStackConfig({ home, temporalPort: '1', uiPort: '2', s3Port: '3' }, {}));
    assert.equal(connection.temporalAddress, healthy.temporal.address);
    const workflowId = `stack-persistence-${randomUUID()}`;
    const temporalConnection = await Connection.connect({ address: connection.temporalAddress });
    try {
      const client = new Client({ connection: temporalConnection, namespace: connection.namespace });
      await client.workflow.start('noSuchWorkflow', { taskQueue: `stack-test-${randomUUID()}`, workflowId, args: [] });
    } finally {
      await temporalConnection.close();
    }
    const store = new ObjectStore(connection.storage);
    await store.put('persistence/probe.bin', Buffer.from('kept across restarts'));

    // Idempotent: a second up changes nothing.
    const again = upSchema.parse((await mlp('up')).json);
    assert.deepEqual([again.temporal, again.s3, again.credentialsCreated], ['already running', 'already running', false]);
    assert.deepEqual([again.status.temporal.pid, again.status.s3.pid], [healthy.temporal.pid, healthy.s3.pid]);

    // Down stops exactly the recorded processes.
    const pids = [healthy.temporal.pid ?? 0, healthy.s3.pid ?? 0];
    assert.deepEqual(downSchema.parse((await mlp('down')).json), { temporal: 'stopped', s3: 'stopped' });
    assert.deepEqual(pids.filter((pid) => isRunning(pid)), [], 'no stack process is left running');
    const afterDown = await mlp('status');
    assert.equal(afterDown.code, 1);
    assert.equal(statusSchema.parse(afterDown.json).healthy, false);

    // Up again: same credentials, the earlier run and the object are still there.
    const restarted = upSchema.parse((await mlp('up')).json);
    assert.deepEqual([restarted.temporal, restarted.s3, restarted.credentialsCreated], ['started', 'started', false]);
    const reconnected = await Connection.connect({ address: restarted.status.temporal.address });
    try {
      const client = new Client({ connection: reconnected, namespace: 'default' });
      const described = await client.workflow.getHandle(workflowId).describe();
      assert.equal(described.workflowId, workflowId);
      assert.equal(described.type, 'noSuchWorkflow');
      assert.equal(described.status.name, 'RUNNING');
    } finally {
      await reconnected.close();
    }
    assert.equal((await store.get('persistence/probe.bin')).toString(), 'kept across restarts');
  });

  it('runs two concurrent `up` one after the other: one starts the servers, the other finds them, none is orphaned', async () => {
    downSchema.parse((await mlp('down')).json);
    const [first, second] = await Promise.all([mlp('up'), mlp('up')]);
    const outcomes = [first, second].map(({ json }) => upSchema.parse(json)).map((up) => `${up.temporal}/${up.s3}`);
    assert.deepEqual(outcomes.sort(), ['already running/already running', 'started/started']);
    assert.equal(statusSchema.parse((await mlp('status')).json).healthy, true);
    // Exactly one Temporal dev server and one S3 server run over this home.
    const { stdout } = await run('ps', ['-eo', 'args']);
    const servers = stdout.split('\n').filter((line) => line.includes(home) && !line.includes('client/bin.ts'));
    assert.equal(servers.length, 2, servers.join('\n'));
  });
});
