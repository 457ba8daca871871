import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { loadPipelineText } from '../../client/pipelines/pipeline-file.ts';
import { submitPipeline } from '../../client/pipelines/pipeline-submit.ts';
import { getPipelineProgress } from '../../client/runs/progress.ts';
import { progressFromHistory } from '../../client/runs/run-history.ts';
import { spawnWorkerProcess } from '../../client/workers/worker-process.ts';
import type { NotificationProgress } from '../../common/pipeline-progress.ts';
import { startTestServers, type TestServers, testWorkerEnv } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const exec = promisify(execFile);

/** What the test webhook received: the path (which holds the token) and the JSON body. */
interface Delivery {
  path: string;
  body: unknown;
}

const deliverySchema = z.looseObject({ workflowId: z.string(), runId: z.string(), text: z.string() });

/**
 * `notify:` end to end: a real worker process (worker/config.ts resolves the URLs from its
 * environment), the real dev server, and a real HTTP server as the webhook, whose paths hold a
 * token as Slack's do. The token must appear in neither the run's history nor the worker's log.
 */
describe('run notifications on a real worker process', function () {
  this.timeout(300_000);
  let servers: TestServers;
  let connection: Connection;
  let client: Client;
  let worker: ChildProcess;
  let webhook: Server;
  let logFile: string;
  const deliveries: Delivery[] = [];
  const token = `T0-${randomUUID()}`;
  const prefix = `notify-${randomUUID().slice(0, 8)}`;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'notify' });
    webhook = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '';
        deliveries.push({ path, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        // `/down` is a webhook that stays broken: every attempt gets a 500.
        response.writeHead(path.endsWith('/down') ? 500 : 200).end('ok');
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hooks/${token}`;
    connection = await Connection.connect({ address: servers.temporalAddress });
    client = new Client({ connection, namespace: servers.namespace });
    logFile = join(servers.dir, 'worker.log');
    worker = spawnWorkerProcess({
      env: testWorkerEnv(servers, { prefix, scratchDir: join(servers.dir, 'scratch') }, {
        MLP_LOG_LEVEL: 'info',
        MLP_TEMPORAL_UI_URL: 'http://ui.test:8233/',
        OK_WEBHOOK_URL: `${base}/ok`,
        OTHER_WEBHOOK_URL: `${base}/other`,
        DOWN_WEBHOOK_URL: `${base}/down`,
      }),
      logFile,
    });
  });

  after(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.kill('SIGKILL');
      await exited;
    }
    await connection?.close();
    await new Promise((resolve) => webhook?.close(resolve));
    await servers?.stop();
  });

  /** A pipeline of noop steps; `broken` fails (not retried) when `fail` is set; then the notify: block. */
  function pipeline(name: string, options: { fail: boolean; notify: string[] }): string {
    return [
      'apiVersion: mlp/v1',
      `name: ${name}`,
      'steps:',
      '  - id: fine',
      '    uses: noop',
      '    with: { value: 1 }',
      '  - id: broken',
      '    uses: noop',
      '    needs: [fine]',
      `    with: ${options.fail ? '{ fail: { type: DatasetError, message: no class folders } }' : '{ value: 2 }'}`,
      ...(options.notify.length === 0 ? [] : ['notify:', ...options.notify]),
    ].join('\n');
  }

  const target = (on: string, env: string): string => `  - { on: [${on}], webhook: { urlFrom: { env: ${env} } } }`;

  async function start(text: string): Promise<WorkflowHandle> {
    const { handle } = await submitPipeline(client, loadPipelineText(text, 'inline.yaml').resolved, { runKey: randomUUID().slice(0, 8), taskQueuePrefix: prefix });
    return handle;
  }

  /** How the run ended: its result, or its failure's message, type and the server's status. */
  async function outcome(handle: WorkflowHandle): Promise<unknown> {
    const ended = await handle.result().then(
      (result: unknown) => ({ result }),
      (error: unknown) => {
        assert.ok(error instanceof WorkflowFailedError, String(error));
        return { failure: error.cause?.message, type: error.cause?.name };
      },
    );
    return { ...ended, status: (await handle.describe()).status.name };
  }

  /** The run's notifications as the progress query answers and as `mlp show` rebuilds them from history: they must agree. */
  async function notificationsOf(handle: WorkflowHandle): Promise<NotificationProgress[] | undefined> {
    const fromQuery = (await getPipelineProgress(handle)).notifications;
    const fromHistory = progressFromHistory(await handle.fetchHistory(), handle.workflowId).notifications;
    assert.deepEqual(
      fromHistory?.map(({ index, state }) => ({ index, state })),
      fromQuery?.map(({ index, state }) => ({ index, state })),
    );
    return fromQuery;
  }

  /**
   * The history as JSON with every byte field (payloads, failure details) as UTF-8 text: what
   * `temporal workflow show` exports, readable. Walked by hand because the messages' own toJSON
   * writes bytes as base64, where a token would hide from a search.
   */
  async function historyText(handle: WorkflowHandle): Promise<string> {
    const plain = (value: unknown): unknown => {
      if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
      if (Array.isArray(value)) return value.map(plain);
      if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item)]));
      return value;
    };
    return JSON.stringify(plain(await handle.fetchHistory()));
  }

  const deliveriesOf = (handle: WorkflowHandle): Delivery[] =>
    deliveries.filter(({ body }) => deliverySchema.safeParse(body).data?.workflowId === handle.workflowId);

  it('POSTs exactly one notice for a failing run with on: [failure], and neither the history nor the worker log holds the URL', async () => {
    const handle = await start(pipeline('notify-failing', { fail: true, notify: [target('failure', 'OK_WEBHOOK_URL')] }));
    const ended = await outcome(handle);
    assert.deepEqual(ended, { failure: 'Step "broken" failed: DatasetError: no class folders (step "broken", attempt 1)', type: 'ApplicationFailure', status: 'FAILED' });
    // The notification ends before the run does: once the run has ended, it is recorded.
    assert.deepEqual((await notificationsOf(handle))?.map(({ index, state }) => ({ index, state })), [{ index: 0, state: 'sent' }]);
    const received = deliveriesOf(handle);
    assert.equal(received.length, 1, JSON.stringify(received));
    assert.equal(received[0]?.path, `/hooks/${token}/ok`);
    const { runId } = await handle.describe();
    assert.deepEqual(received[0]?.body, {
      pipeline: 'notify-failing',
      workflowId: handle.workflowId,
      runId,
      status: 'failed',
      events: ['failure'],
      startedAt: z.looseObject({ startedAt: z.string() }).parse(received[0]?.body).startedAt,
      endedAt: z.looseObject({ endedAt: z.string() }).parse(received[0]?.body).endedAt,
      failedStep: 'broken',
      error: 'DatasetError: no class folders (step "broken", attempt 1)',
      url: `http://ui.test:8233/namespaces/${servers.namespace}/workflows/${handle.workflowId}/${runId}`,
      text: [
        `Pipeline notify-failing failed at step broken: ${handle.workflowId}`,
        'DatasetError: no class folders (step "broken", attempt 1)',
        `http://ui.test:8233/namespaces/${servers.namespace}/workflows/${handle.workflowId}/${runId}`,
      ].join('\n'),
    });

    const history = await historyText(handle);
    assert.match(history, /OK_WEBHOOK_URL/, 'the history holds where the URL comes from (so payloads were read)');
    assert.match(history, /no class folders/);
    assert.ok(!history.includes(token), 'the history holds the webhook token');
    const log = await readFile(logFile, 'utf8');
    assert.match(log, /Run notification sent/, 'the worker logged the notification');
    assert.ok(!log.includes(token), 'the worker log holds the webhook token');
  });

  it('POSTs nothing to an on: [failure] target for a successful run (its on: [success] target gets the notice)', async () => {
    const handle = await start(pipeline('notify-succeeding', { fail: false, notify: [target('failure', 'OK_WEBHOOK_URL'), target('success', 'OTHER_WEBHOOK_URL')] }));
    assert.deepEqual(await outcome(handle), { result: { fine: { value: 1 }, broken: { value: 2 } }, status: 'COMPLETED' });
    // The success notification's outcome is recorded: every notification of the run is over.
    assert.deepEqual((await notificationsOf(handle))?.map(({ index, state }) => ({ index, state })), [{ index: 1, state: 'sent' }]);
    assert.deepEqual(deliveriesOf(handle).map(({ path }) => path), [`/hooks/${token}/other`]);
  });

  it('leaves the run as it would be without notify: when the webhook answers 500 forever, and records the failure', async () => {
    const without = await start(pipeline('notify-down', { fail: false, notify: [] }));
    const withDown = await start(pipeline('notify-down', { fail: false, notify: [target('success', 'DOWN_WEBHOOK_URL')] }));
    const expected = await outcome(without);
    assert.deepEqual(await outcome(withDown), expected);
    assert.deepEqual(
      await notificationsOf(withDown).then((notifications) => notifications?.map(({ index, state, error }) => ({ index, state, error }))),
      [{ index: 0, state: 'failed', error: 'WebhookError: Webhook answered HTTP 500 Internal Server Error' }],
    );
    assert.equal(deliveriesOf(withDown).length, 5, 'every attempt of the bounded retry policy reached the webhook');
    const searchAttributes = (await withDown.describe()).typedSearchAttributes;
    const status = searchAttributes.getAll().find((pair) => pair.key.name === 'PipelineStatus')?.value;
    assert.equal(status, 'succeeded');
    assert.ok(!(await historyText(withDown)).includes(token));
    const show = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', 'show', withDown.workflowId, '--address', servers.temporalAddress, '--namespace', servers.namespace]);
    assert.match(show.stdout, /^notifications:\n {2}notify\[0\] {2}failed — WebhookError: Webhook answered HTTP 500 Internal Server Error$/m);
    assert.ok(!`${show.stdout}${show.stderr}`.includes(token), 'mlp show prints the webhook token');
  });

  it('records a clear worker-side error for urlFrom naming an unset variable, and the run is unaffected', async () => {
    const handle = await start(pipeline('notify-unset', { fail: true, notify: [target('failure', 'UNSET_WEBHOOK_URL')] }));
    assert.deepEqual(await outcome(handle), {
      failure: 'Step "broken" failed: DatasetError: no class folders (step "broken", attempt 1)',
      type: 'ApplicationFailure',
      status: 'FAILED',
    });
    const message = 'ConfigError: notify[0]: environment variable UNSET_WEBHOOK_URL is not set on this worker: it should hold the webhook URL';
    assert.deepEqual(
      await notificationsOf(handle).then((notifications) => notifications?.map(({ index, state, error }) => ({ index, state, error }))),
      [{ index: 0, state: 'failed', error: message }],
    );
    assert.equal(deliveriesOf(handle).length, 0);
    const attempts = ((await handle.fetchHistory()).events ?? []).flatMap((event) => event.activityTaskStartedEventAttributes?.attempt ?? []);
    assert.equal(Math.max(...attempts), 1, 'a missing variable is not retried');
    const log = await waitUntil('the worker to log the unresolved URL', async () => {
      const text = await readFile(logFile, 'utf8');
      return text.includes('UNSET_WEBHOOK_URL is not set on this worker') ? text : undefined;
    });
    assert.match(log, /Webhook URL not resolved/);
  });
});
