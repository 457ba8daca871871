import assert from 'node:assert/strict';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createNoopActivity } from '../../activities/steps/noop.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import type { StepContext } from '../../common/step-activities.ts';

// The noop activity never touches storage; the store only satisfies the factory's signature.
const deps = {
  store: new ObjectStore({ endpoint: 'http://127.0.0.1:1', region: 'us-east-1', bucket: 'unused', accessKeyId: 'x', secretAccessKey: 'y' }),
  scratchDir: '.',
};
const { noop } = createNoopActivity(deps);
const context: StepContext = { pipeline: 'p', workflowId: 'wf', stepId: 'echo', runPrefix: 'runs/wf/echo/' };

describe('noop step activity', () => {
  it('returns its input value', async () => {
    const env = new MockActivityEnvironment();
    assert.deepEqual(await env.run(noop, { value: { a: [1, 2] } }, context), { value: { a: [1, 2] } });
  });

  it('heartbeats while it sleeps', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));
    const started = Date.now();
    await env.run(noop, { value: 1, sleepMs: 1_200 }, context);
    assert.ok(Date.now() - started >= 1_150);
    assert.deepEqual(beats, [{ sleptMs: 0, sleepMs: 1_200 }, { sleptMs: 1_000, sleepMs: 1_200 }]);
  });

  it('stops sleeping when cancelled', async () => {
    const env = new MockActivityEnvironment();
    const run = env.run(noop, { sleepMs: 60_000 }, context);
    setTimeout(() => env.cancel(), 50);
    await assert.rejects(run, CancelledFailure);
  });

  it('fails the first N attempts with the requested error type, then succeeds', async () => {
    const input = { value: 'ok', fail: { type: 'FlakyError', attempts: 2 } };
    await assert.rejects(new MockActivityEnvironment({ attempt: 2 }).run(noop, input, context), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, 'FlakyError');
      assert.equal(error.message, 'noop step failed on purpose (step "echo", attempt 2)');
      return true;
    });
    assert.deepEqual(await new MockActivityEnvironment({ attempt: 3 }).run(noop, input, context), { value: 'ok' });
  });

  it('rejects inputs its step kind does not define as a non-retryable spec error', async () => {
    await assert.rejects(new MockActivityEnvironment().run(noop, { value: 1, typo: true }, context), {
      name: 'PipelineSpecError',
      message: 'Invalid inputs of noop step "echo": ✖ Unrecognized key: "typo"',
    });
  });
});
