import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { z } from 'zod';
import { createCacheEntriesActivities } from '../../activities/housekeeping/cache-entries.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { createStepCacheActivities } from '../../activities/step-cache.ts';
import { createNoopActivity } from '../../activities/steps/noop.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

const exec = promisify(execFile);
const CHAIN = 'test/fixtures/pipelines/cached-chain.yaml';

const runSchema = z.object({ workflowId: z.string(), status: z.literal('completed') }).loose();
const viewSchema = z.object({ steps: z.array(z.object({ id: z.string(), state: z.string() }).loose()) }).loose();
const explanationSchema = z.object({
  workflowId: z.string(),
  pipeline: z.string(),
  steps: z.array(
    z.object({
      step: z.string(),
      status: z.string(),
      cause: z.string().optional(),
      changed: z.array(z.string()).optional(),
      detail: z.string().optional(),
      previous: z.object({ workflowId: z.string() }).optional(),
      entry: z.object({ workflowId: z.string() }).optional(),
    }),
  ),
});

describe('mlp run --refresh and mlp cache explain on the real Temporal dev server and S3 server', function () {
  this.timeout(180_000);
  let servers: TestServers;
  let workers: PipelineWorkers;
  // A message of this test's own, so no other run's entries can be hits here.
  const message = `hi ${randomUUID().slice(0, 8)}`;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'cache-explain' });
    const deps = { store: new ObjectStore(servers.storage), scratchDir: servers.dir };
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'cache-explain',
      activities: { ...createNoopActivity(deps), ...createStepCacheActivities(deps), ...createCacheEntriesActivities(deps) },
    });
  });

  after(async () => {
    await workers?.stop();
    await servers?.stop();
  });

  async function mlp(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const connection = ['--address', servers.temporalAddress, '--namespace', servers.namespace, '--task-queue-prefix', workers.taskQueuePrefix];
    try {
      const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', ...args, ...connection]);
      return { code: 0, stdout, stderr };
    } catch (error) {
      return z.object({ code: z.number(), stdout: z.string(), stderr: z.string() }).parse(error);
    }
  }

  async function run(...args: string[]): Promise<string> {
    const result = await mlp('run', CHAIN, ...args, '--wait', '--json');
    assert.equal(result.code, 0, result.stderr);
    return runSchema.parse(JSON.parse(result.stdout)).workflowId;
  }

  async function states(workflowId: string): Promise<string[][]> {
    const result = await mlp('show', workflowId, '--json');
    assert.equal(result.code, 0, result.stderr);
    return viewSchema.parse(JSON.parse(result.stdout)).steps.map((step) => [step.id, step.state]);
  }

  async function explain(workflowId: string) {
    const result = await mlp('cache', 'explain', workflowId, '--json');
    assert.equal(result.code, 0, result.stderr);
    return explanationSchema.parse(JSON.parse(result.stdout)).steps;
  }

  it('explains first runs, hits, a refresh (and what it recomputes downstream) and a changed param', async () => {
    const first = await run('--set', `message=${message}`, '--run-key', 'one');
    assert.deepEqual((await explain(first)).map((step) => [step.step, step.status, step.cause]), [
      ['first', 'miss', 'first'], ['second', 'miss', 'first'], ['side', 'miss', 'first'],
    ]);

    const again = await run('--set', `message=${message}`, '--run-key', 'two');
    const hits = await explain(again);
    assert.deepEqual(hits.map((step) => [step.step, step.status, step.entry?.workflowId]), [
      ['first', 'hit', first], ['second', 'hit', first], ['side', 'hit', first],
    ]);

    // --refresh first: first and second (downstream) run again, side still hits.
    const refreshed = await run('--set', `message=${message}`, '--refresh', 'first');
    assert.notEqual(refreshed, again, 'a refresh is a new run, not the earlier one found by its spec hash');
    assert.deepEqual(await states(refreshed), [['first', 'succeeded'], ['second', 'succeeded'], ['side', 'cached']]);
    assert.deepEqual((await explain(refreshed)).map((step) => [step.step, step.status, step.detail]), [
      ['first', 'miss', 'refresh requested (--refresh)'], ['second', 'miss', 'downstream of a refreshed step'], ['side', 'hit', undefined],
    ]);

    // A new message changes first's params, and through its output second's.
    const changed = await run('--set', `message=${message}!`, '--run-key', 'four');
    const explained = await explain(changed);
    assert.deepEqual(explained.map((step) => [step.step, step.status, step.cause, step.changed, step.previous?.workflowId]), [
      ['first', 'miss', 'changed', ['params'], refreshed],
      ['second', 'miss', 'changed', ['params'], refreshed],
      ['side', 'hit', undefined, undefined, undefined],
    ]);
    const human = await mlp('cache', 'explain', changed, '--step', 'first');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`first\\s+miss: params changed since the entry of run ${refreshed}`));
    assert.doesNotMatch(human.stdout, /second|side/);
  });

  it('refuses --refresh of a step the pipeline does not have, naming its steps, without starting a run', async () => {
    const result = await mlp('run', CHAIN, '--refresh', 'thrid', '--json');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--refresh: pipeline "cached-chain" has no step "thrid" \(its steps: first, second, side\)/);
  });
});
