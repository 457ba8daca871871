import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ObjectStore } from '../../activities/object-store.ts';
import { createStepCacheActivities } from '../../activities/step-cache.ts';
import { createNoopActivity } from '../../activities/steps/noop.ts';
import { followHistory } from '../../client/runs/history-follower.ts';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import type { RunView } from '../../client/runs/run-view.ts';
import { watchRun } from '../../client/runs/watch.ts';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

/** Three noop steps in a row, each sleeping (heartbeating) for a while: a run that lasts a few seconds. */
const chain = (name: string): ResolvedPipeline =>
  testPipeline(name, [
    testStep('first', 'noop', { with: { value: 1, sleepMs: 600 } }),
    testStep('second', 'noop', { needs: ['first'], with: { value: 2, sleepMs: 600 } }),
    testStep('third', 'noop', { needs: ['second'], with: { value: 3, sleepMs: 600 } }),
  ]);

describe('mlp watch reads a run incrementally (real Temporal dev server)', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let workers: PipelineWorkers;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'watch-history' });
    const deps = { store: new ObjectStore(servers.storage), scratchDir: servers.dir };
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'watch-history',
      activities: { ...createNoopActivity(deps), ...createStepCacheActivities(deps) },
    });
  });

  after(async () => {
    await workers?.stop();
    await servers?.stop();
  });

  async function start(spec: ResolvedPipeline) {
    const workflowId = `${spec.name}-${randomUUID().slice(0, 8)}`;
    return workers.client.workflow.start('runPipeline', pipelineStartOptions(spec, { workflowId, taskQueuePrefix: workers.taskQueuePrefix }));
  }

  it('fetches each event of a running run once, over several polls, until the run closes', async () => {
    const handle = await start(chain('follow'));
    const follower = followHistory(workers.client, handle.workflowId, handle.firstExecutionRunId);
    const deadline = Date.now() + 60_000;
    let pollsWithEvents = 0;
    while (!follower.complete) {
      assert.ok(Date.now() < deadline, 'the run did not close within a minute');
      if ((await follower.poll(500)) > 0) pollsWithEvents += 1;
    }
    const full = (await handle.fetchHistory()).events ?? [];
    const ids = follower.events.map((event) => Number(event.eventId));
    assert.deepEqual(ids, full.map((event) => Number(event.eventId)), 'the follower read the same history as a full fetch');
    assert.deepEqual(ids, Array.from({ length: full.length }, (_, index) => index + 1), 'every event exactly once, in order');
    assert.ok(pollsWithEvents >= 3, `events arrived over ${pollsWithEvents} polls, not as the run went`);
    assert.equal(await follower.poll(500), 0, 'a closed run has nothing more to read');
  });

  it('watches a run to its end with step states that only move forward', async () => {
    const handle = await start(chain('watch'));
    const views: RunView[] = [];
    const { view, failure } = await watchRun(workers.client, handle.workflowId, handle.firstExecutionRunId, { update: (v) => views.push(v), end: () => {} }, { intervalMs: 200 });
    assert.equal(failure, undefined);
    assert.equal(view.status, 'COMPLETED');
    assert.deepEqual(view.steps.map((step) => [step.id, step.state, step.attempt]), [
      ['first', 'succeeded', 1],
      ['second', 'succeeded', 1],
      ['third', 'succeeded', 1],
    ]);
    const finished = views.map((v) => v.steps.filter((step) => step.state === 'succeeded').length);
    assert.ok(finished.every((count, index) => index === 0 || count >= (finished[index - 1] ?? 0)), `finished-step counts ${finished.join(',')}`);
    assert.ok(new Set(finished).size >= 3, `the watch saw the run advance (finished-step counts ${finished.join(',')})`);
  });
});
