import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postWebhook } from '../../activities/notify/webhook.ts';
import { loadPipelineText } from '../../client/pipelines/pipeline-file.ts';
import { freePort } from '../../client/servers/launch.ts';
import { ConfigError } from '../../common/errors.ts';
import { dueTargets, notificationActivityId, parseNotificationActivityId, runNotice, webhookBody, type NotifyTarget } from '../../common/notifications.ts';
import type { PipelineProgress } from '../../common/pipeline-progress.ts';
import { reducePipelineProgress } from '../../common/pipeline-progress-reducer.ts';
import { parseStepActivityId } from '../../common/step-activity-ids.ts';
import { createWebhookUrlResolver } from '../../worker/webhook-urls.ts';

const PIPELINE = 'apiVersion: mlp/v1\nname: p\nsteps:\n  - id: a\n    uses: noop\n';

function problemsOf(text: string): string[] {
  try {
    loadPipelineText(text, 'p.yaml');
  } catch (error) {
    return error instanceof Error ? error.message.split('\n') : [String(error)];
  }
  return assert.fail('the pipeline validated but was expected to fail');
}

function progress(overrides: Partial<PipelineProgress>): PipelineProgress {
  return {
    pipeline: 'pneumonia',
    specHash: 'abc',
    state: 'succeeded',
    startedAt: '2026-12-07T02:00:00.000Z',
    endedAt: '2026-12-07T02:10:00.000Z',
    steps: [
      { id: 'train', uses: 'train', queue: 'gpu', state: 'succeeded', cached: false, outputs: { modelKey: 'runs/x/train/model.json' } },
      { id: 'evaluate', uses: 'evaluate', queue: 'cpu', state: 'succeeded', cached: false, outputs: { metrics: { auc: 0.98312, accuracy: 0.917, confusion: [[1, 2]] }, report: 'runs/x/evaluate/report.md' } },
      { id: 'publish', uses: 'publish', queue: 'cpu', state: 'succeeded', cached: false, outputs: { version: 3, prefix: 'models/pneumonia/3/', promoted: true, reason: 'auc ≥ 0.8' } },
    ],
    ...overrides,
  };
}

const ids = { workflowId: 'pneumonia-nightly', runId: 'run-1' };

describe('run notifications', () => {
  describe('the notify: block of a pipeline file', () => {
    it('is carried into the resolved spec the workflow runs, with where the worker finds each URL', () => {
      const loaded = loadPipelineText(
        `${PIPELINE}notify:\n  - on: [failure]\n    webhook:\n      urlFrom: { env: ALERT_WEBHOOK_URL }\n  - on: [success, promoted]\n    webhook:\n      urlFrom: { file: /run/secrets/alert-url }\n`,
        'p.yaml',
      );
      assert.deepEqual(loaded.resolved.notify, [
        { on: ['failure'], webhook: { urlFrom: { env: 'ALERT_WEBHOOK_URL' } } },
        { on: ['success', 'promoted'], webhook: { urlFrom: { file: '/run/secrets/alert-url' } } },
      ]);
    });

    it('leaves the resolved spec (and its hash) of a pipeline without notify: as it was', () => {
      const without = loadPipelineText(PIPELINE, 'p.yaml').resolved;
      assert.equal('notify' in without, false);
      assert.equal(loadPipelineText(`${PIPELINE}notify: []\n`, 'p.yaml').resolved.specHash, without.specHash);
    });

    it('refuses a URL written in the file, without echoing it, at its line and column', () => {
      assert.deepEqual(problemsOf(`${PIPELINE}notify:\n  - on: [failure]\n    webhook:\n      urlFrom: https://hooks.example/services/T0/B0/secret-token\n`), [
        'p.yaml:9:16: notify[0].webhook.urlFrom: expected { env: NAME } or { file: PATH }: the webhook URL itself never goes in the pipeline file',
      ]);
      const inline = problemsOf(`${PIPELINE}notify:\n  - on: [failure]\n    webhook:\n      url: https://hooks.example/services/T0/B0/secret-token\n`);
      assert.ok(inline.includes('p.yaml:9:7: notify[0].webhook: unknown key "url"'), inline.join('\n'));
      assert.ok(inline.every((line) => !line.includes('secret-token')));
    });

    it('names an unknown event, an empty on: and a bad variable name at their positions', () => {
      assert.deepEqual(problemsOf(`${PIPELINE}notify:\n  - on: [failed]\n    webhook:\n      urlFrom: { env: A }\n`), [
        'p.yaml:7:10: notify[0].on[0]: Invalid option: expected one of "failure"|"success"|"promoted"',
      ]);
      assert.deepEqual(problemsOf(`${PIPELINE}notify:\n  - on: []\n    webhook:\n      urlFrom: { env: "A B" }\n`), [
        'p.yaml:7:9: notify[0].on: expected at least one of failure, success, promoted',
        'p.yaml:9:23: notify[0].webhook.urlFrom.env: expected an environment variable name',
      ]);
      assert.deepEqual(problemsOf(`${PIPELINE}notify:\n  - on: [failure]\n    webhook:\n      urlFrom: { env: A, file: /b }\n`), [
        'p.yaml:9:16: notify[0].webhook.urlFrom: expected { env: NAME } or { file: PATH }: the webhook URL itself never goes in the pipeline file',
      ]);
    });
  });

  describe('the notice of a run', () => {
    it('of a successful run that promoted: success and promoted, evaluate metrics (numbers only), the promoted version', () => {
      const notice = runNotice(progress({}), ids);
      assert.deepEqual(notice, {
        pipeline: 'pneumonia',
        ...ids,
        status: 'succeeded',
        events: ['success', 'promoted'],
        startedAt: '2026-12-07T02:00:00.000Z',
        endedAt: '2026-12-07T02:10:00.000Z',
        metrics: { evaluate: { auc: 0.98312, accuracy: 0.917 } },
        promoted: { publish: { model: 'pneumonia', version: 3 } },
      });
    });

    it('of a failed run: failure, the failed step and its error', () => {
      const failed = progress({
        state: 'failed',
        failedStep: 'train',
        steps: [{ id: 'train', uses: 'train', queue: 'gpu', state: 'failed', cached: false, error: 'TrainingDivergedError: loss is NaN at epoch 2' }],
      });
      const notice = runNotice(failed, ids);
      assert.equal(notice?.status, 'failed');
      assert.deepEqual(notice?.events, ['failure']);
      assert.equal(notice?.failedStep, 'train');
      assert.equal(notice?.error, 'TrainingDivergedError: loss is NaN at epoch 2');
    });

    it('of a cancelled or running run: none (a person chose to stop it, or it has not ended)', () => {
      assert.equal(runNotice(progress({ state: 'cancelled' }), ids), undefined);
      assert.equal(runNotice(progress({ state: 'running' }), ids), undefined);
    });

    it('goes to the targets whose on: names one of its events, each once', () => {
      const targets: NotifyTarget[] = [
        { on: ['failure'], webhook: { urlFrom: { env: 'A' } } },
        { on: ['success', 'promoted'], webhook: { urlFrom: { env: 'B' } } },
        { on: ['promoted'], webhook: { urlFrom: { env: 'C' } } },
      ];
      const promoted = runNotice(progress({}), ids);
      const plain = runNotice(progress({ steps: [] }), ids);
      const failed = runNotice(progress({ state: 'failed' }), ids);
      assert.ok(promoted && plain && failed);
      assert.deepEqual(dueTargets(targets, promoted).map(({ index }) => index), [1, 2]);
      assert.deepEqual(dueTargets(targets, plain).map(({ index }) => index), [1]);
      assert.deepEqual(dueTargets(targets, failed).map(({ index }) => index), [0]);
    });

    it('becomes a webhook body with the link and a text field a chat webhook shows', () => {
      const notice = runNotice(progress({}), ids);
      assert.ok(notice);
      const body = webhookBody(notice, 'http://ui.test/namespaces/default/workflows/pneumonia-nightly/run-1');
      assert.equal(body.url, 'http://ui.test/namespaces/default/workflows/pneumonia-nightly/run-1');
      assert.equal(
        body.text,
        [
          'Pipeline pneumonia succeeded: pneumonia-nightly',
          'evaluate: auc 0.9831, accuracy 0.917',
          'publish: promoted pneumonia version 3',
          'http://ui.test/namespaces/default/workflows/pneumonia-nightly/run-1',
        ].join('\n'),
      );
      assert.equal('url' in webhookBody(notice), false, 'no link when the worker does not know the UI');
    });
  });

  it('records how each notification ended beside the run state, which it never changes', () => {
    let state = progress({ state: 'failed', failedStep: 'train' });
    state = reducePipelineProgress(state, { type: 'notificationEnded', index: 1, sent: false, at: '2026-12-07T02:11:00.000Z', error: 'WebhookError: Webhook answered HTTP 500' });
    state = reducePipelineProgress(state, { type: 'notificationEnded', index: 0, sent: true, at: '2026-12-07T02:10:01.000Z' });
    assert.equal(state.state, 'failed');
    assert.deepEqual(state.notifications, [
      { index: 0, state: 'sent', at: '2026-12-07T02:10:01.000Z' },
      { index: 1, state: 'failed', at: '2026-12-07T02:11:00.000Z', error: 'WebhookError: Webhook answered HTTP 500' },
    ]);
  });

  it('gives notification activities ids that no step id can be read from', () => {
    assert.equal(notificationActivityId(2), 'notify/2');
    assert.equal(parseNotificationActivityId('notify/2'), 2);
    assert.equal(parseStepActivityId('notify/2'), undefined);
    assert.equal(parseNotificationActivityId('notify'), undefined, 'a step named notify is a step');
    assert.equal(parseNotificationActivityId('notify/cache-key'), undefined);
  });

  describe('posting to a webhook', () => {
    /** A webhook answering each path's status (`/hooks/<token>/<status>`); what it received. */
    async function withWebhook(run: (base: string, bodies: unknown[]) => Promise<void>): Promise<void> {
      const bodies: unknown[] = [];
      const server = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          response.writeHead(Number(request.url?.split('/').at(-1))).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/secret-token`, bodies);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    }

    it('sends the body as JSON and resolves with a 2xx status', async () => {
      await withWebhook(async (base, bodies) => {
        assert.equal(await postWebhook(new URL(`${base}/204`), { text: 'hello' }), 204);
        assert.deepEqual(bodies, [{ text: 'hello' }]);
      });
    });

    it('retries a 5xx, 408 and 429 but not another 4xx, naming the status and never the URL', async () => {
      await withWebhook(async (base) => {
        for (const [status, name] of [[500, 'WebhookError'], [429, 'WebhookError'], [408, 'WebhookError'], [404, 'WebhookRejectedError'], [403, 'WebhookRejectedError']] as const) {
          await assert.rejects(postWebhook(new URL(`${base}/${status}`), {}), (error: unknown) => {
            assert.ok(error instanceof Error);
            assert.equal(error.name, name, `HTTP ${status}`);
            assert.match(error.message, new RegExp(`^Webhook answered HTTP ${status}`));
            assert.doesNotMatch(`${error.message}${error.stack ?? ''}`, /secret-token/);
            return true;
          });
        }
      });
    });

    it('names the network error of an unreachable webhook, not its URL, and keeps no cause that could', async () => {
      const port = await freePort();
      await assert.rejects(postWebhook(new URL(`http://127.0.0.1:${port}/hooks/secret-token`), {}), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.equal(error.name, 'WebhookError');
        assert.equal(error.message, 'Webhook POST failed: ECONNREFUSED');
        assert.equal(error.cause, undefined);
        return true;
      });
    });
  });

  describe("the worker's webhook URL resolver", () => {
    const secretUrl = 'https://hooks.example/services/T0/B0/secret-token';

    it('reads the URL from the environment the worker started with, not a later one', async () => {
      const env: Record<string, string | undefined> = { ALERT_WEBHOOK_URL: secretUrl };
      const resolve = createWebhookUrlResolver(env);
      env['ALERT_WEBHOOK_URL'] = 'https://elsewhere.example/';
      assert.equal((await resolve({ env: 'ALERT_WEBHOOK_URL' })).href, secretUrl);
    });

    it('reads the URL from a file (a mounted secret), trimming its newline', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mlp-webhook-'));
      try {
        writeFileSync(join(dir, 'alert-url'), `${secretUrl}\n`);
        assert.equal((await createWebhookUrlResolver({})({ file: join(dir, 'alert-url') })).href, secretUrl);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('names an unset variable, a missing file and a value that is no URL, never the value', async () => {
      const resolve = createWebhookUrlResolver({ NOT_A_URL: 'secret-token', FTP_URL: 'ftp://hooks.example/secret-token' });
      await assert.rejects(resolve({ env: 'ALERT_WEBHOOK_URL' }), {
        name: 'ConfigError',
        message: 'environment variable ALERT_WEBHOOK_URL is not set on this worker: it should hold the webhook URL',
      });
      await assert.rejects(resolve({ file: '/nonexistent/alert-url' }), {
        name: 'ConfigError',
        message: 'Cannot read the webhook URL from file /nonexistent/alert-url on this worker (ENOENT)',
      });
      for (const name of ['NOT_A_URL', 'FTP_URL']) {
        await assert.rejects(resolve({ env: name }), (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, new RegExp(`environment variable ${name} is not`));
          assert.doesNotMatch(error.message, /secret-token/);
          return true;
        });
      }
    });
  });
});
