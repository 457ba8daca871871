import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { writeSyntheticDataset, zipFolder } from '../../activities/data/synthetic.ts';
import { loadPipelineFile } from '../../client/pipelines/pipeline-file.ts';
import { submitPipeline } from '../../client/pipelines/pipeline-submit.ts';
import type { History } from '../../client/runs/run-history.ts';
import { parseStepActivityId } from '../../common/step-activity-ids.ts';
import { startCliWorker, type CliWorker } from '../helpers/cli-worker.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const SWEEP = 'test/fixtures/faults/tiny-sweep.yaml';
/** Temporal's PendingActivityState.STARTED: a worker holds the attempt. */
const STARTED = 2;

const trialsSchema = z.array(
  z.object({
    index: z.number(),
    matrix: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
    status: z.string(),
    metric: z.number().optional(),
    selected: z.boolean(),
  }),
);
const runOutputs = z.object({
  train: z.looseObject({ model: z.string(), finalMetrics: z.record(z.string(), z.number()), trials: trialsSchema }),
  report: z.object({ value: trialsSchema }),
});

/** Figures the docs quote; printed at the end. */
const measured: Record<string, string> = {};

function eventMillis(event: NonNullable<History['events']>[number]): number {
  const time = event.eventTime;
  return Number(String(time?.seconds ?? 0)) * 1000 + Math.floor((time?.nanos ?? 0) / 1e6);
}

/** Per trial of step `train`: its own activity's schedule count and run interval (started → closed), from the history. */
function trialActivities(history: History): Map<number, { scheduled: number; startedAt?: number; closedAt?: number; attempt?: number }> {
  const trialByEvent = new Map<string, number>();
  const trials = new Map<number, { scheduled: number; startedAt?: number; closedAt?: number; attempt?: number }>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    const ref = scheduled?.activityId ? parseStepActivityId(scheduled.activityId) : undefined;
    if (ref?.stepId === 'train' && ref.trial !== undefined && ref.operation === undefined) {
      trialByEvent.set(String(event.eventId), ref.trial);
      const entry = trials.get(ref.trial) ?? { scheduled: 0 };
      entry.scheduled += 1;
      trials.set(ref.trial, entry);
      continue;
    }
    const started = event.activityTaskStartedEventAttributes;
    const closing = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes;
    const scheduledId = String(started?.scheduledEventId ?? closing?.scheduledEventId ?? '');
    const trial = trialByEvent.get(scheduledId);
    const entry = trial === undefined ? undefined : trials.get(trial);
    if (entry === undefined) continue;
    if (started) {
      entry.startedAt = eventMillis(event);
      entry.attempt = started.attempt ?? 1;
    } else if (closing) {
      entry.closedAt = eventMillis(event);
    }
  }
  return trials;
}

/** Most trials running at the same moment, from their started → closed intervals. */
function peakConcurrency(intervals: { startedAt?: number; closedAt?: number }[]): number {
  const edges = intervals
    .filter((interval): interval is { startedAt: number; closedAt: number } => interval.startedAt !== undefined && interval.closedAt !== undefined)
    .flatMap(({ startedAt, closedAt }) => [
      { at: startedAt, delta: 1 },
      { at: closedAt, delta: -1 },
    ])
    // An end and a start at the same millisecond do not overlap.
    .sort((a, b) => a.at - b.at || a.delta - b.delta);
  let running = 0;
  let peak = 0;
  for (const edge of edges) {
    running += edge.delta;
    peak = Math.max(peak, running);
  }
  return peak;
}

/**
 * A sweep on the real Temporal dev server, S3 server and `mlp worker` processes: six trials of
 * a tiny frozen-backbone model (3 learning rates × 2 head sizes, 3 at once).
 */
describe('sweeps on the local stack: a 6-trial train sweep, a SIGKILLed worker, the cache', function () {
  this.timeout(300_000);
  let servers: TestServers;
  let connection: Connection;
  let client: Client;
  let cli: CliWorker;
  const prefix = `sweep-${randomUUID().slice(0, 8)}`;
  let settings: string[] = [];

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'sweep' });
    const data = join(servers.dir, 'synthetic');
    await writeSyntheticDataset({ dir: data, seed: 5, size: 32, counts: { train: { NORMAL: 16, PNEUMONIA: 16 }, test: { NORMAL: 6, PNEUMONIA: 6 } } });
    const zip = join(servers.dir, 'tiny.zip');
    await zipFolder(data, zip);
    settings = [`dataset=file://${zip}`];
    connection = await Connection.connect({ address: servers.temporalAddress });
    client = new Client({ connection, namespace: servers.namespace });
    cli = startCliWorker(servers, { prefix, env: { MLP_ENGINE: 'wasm' } });
  });

  after(async () => {
    await cli?.stop();
    await connection?.close();
    await servers?.stop();
    if (Object.keys(measured).length > 0) console.log(`      measured: ${JSON.stringify(measured)}`);
  });

  async function start(runKey: string, refresh: string[] = []) {
    const { resolved } = await loadPipelineFile(SWEEP, settings);
    return submitPipeline(client, resolved, { runKey: `${runKey}-${randomUUID().slice(0, 6)}`, taskQueuePrefix: prefix, refresh });
  }

  /**
   * From one description of the run: trials of `train` a worker holds and has heartbeated from
   * (it is training), and whether a cache activity is in flight (those do not heartbeat, so one
   * held by a killed worker waits out its 1-minute timeout).
   */
  async function trialStates(handle: WorkflowHandle): Promise<{ training: number; bookkeeping: boolean; pending: string }> {
    const pending = ((await handle.describe()).raw.pendingActivities ?? []).map((activity) => ({
      ref: parseStepActivityId(activity.activityId ?? ''),
      id: activity.activityId,
      state: activity.state,
      heartbeat: activity.lastHeartbeatTime !== null && activity.lastHeartbeatTime !== undefined,
    }));
    const training = pending.filter(({ ref, state, heartbeat }) => ref?.trial !== undefined && ref.operation === undefined && state === STARTED && heartbeat).length;
    const bookkeeping = pending.some(({ ref }) => ref?.operation !== undefined);
    return { training, bookkeeping, pending: JSON.stringify(pending.map(({ id, state }) => [id, state])) };
  }

  it('runs the trials up to maxParallel at once, finishes after the worker is SIGKILLed mid-sweep with each of the 6 trials run once, and selects the trial an uninterrupted run selects; a rerun takes every trial from the cache', async () => {
    const started = Date.now();
    const killed = await start('killed');
    // Mid-sweep: trials training in parallel, no cache bookkeeping in flight; kill at once.
    const { pending: pendingAtKill } = await waitUntil('trials training', async () => {
      const states = await trialStates(killed.handle);
      return states.training >= 2 && !states.bookkeeping ? states : undefined;
    }, { timeoutMs: 180_000, intervalMs: 50 });
    const killedAt = Date.now();
    cli.worker.kill('SIGKILL');
    await cli.worker.exited;
    cli = startCliWorker(servers, { prefix, env: { MLP_ENGINE: 'wasm' } });
    const interrupted = runOutputs.parse(await killed.handle.result());
    measured.interruptedSweep = `${((Date.now() - started) / 1000).toFixed(1)} s (6 trials, worker SIGKILLed once)`;

    const freshStart = Date.now();
    const fresh = await start('fresh', ['train']);
    const uninterrupted = runOutputs.parse(await fresh.handle.result());
    measured.uninterruptedSweep = `${((Date.now() - freshStart) / 1000).toFixed(1)} s (6 trials, 3 at once)`;

    // Exactly six trials, each once, each succeeded, in both runs.
    for (const outputs of [interrupted, uninterrupted]) {
      assert.deepEqual(outputs.train.trials.map((trial) => trial.index), [0, 1, 2, 3, 4, 5]);
      assert.deepEqual(outputs.train.trials.map((trial) => trial.status), Array(6).fill('succeeded'));
      assert.equal(outputs.train.trials.filter((trial) => trial.selected).length, 1);
      assert.deepEqual(outputs.report.value, outputs.train.trials, 'downstream steps see the same trial list');
    }
    const killedTrials = trialActivities(await killed.handle.fetchHistory());
    assert.deepEqual([...killedTrials.keys()].sort(), [0, 1, 2, 3, 4, 5]);
    for (const [index, trial] of killedTrials) assert.equal(trial.scheduled, 1, `trial ${index} scheduled once (retries are attempts of it)`);
    assert.ok(
      [...killedTrials.values()].some((trial) => (trial.attempt ?? 1) >= 2),
      `a trial held by the killed worker finished on a later attempt: ${JSON.stringify(Object.fromEntries(killedTrials))} (killed at ${killedAt}, pending then: ${pendingAtKill})`,
    );

    // Same settings, same data, same seed: the same metrics and the same winner without the kill.
    const winner = (outputs: z.infer<typeof runOutputs>) => outputs.train.trials.find((trial) => trial.selected);
    assert.deepEqual(winner(interrupted)?.matrix, winner(uninterrupted)?.matrix);
    assert.deepEqual(interrupted.train.trials.map((trial) => trial.metric), uninterrupted.train.trials.map((trial) => trial.metric));
    const best = Math.min(...uninterrupted.train.trials.map((trial) => trial.metric ?? Infinity));
    assert.equal(winner(uninterrupted)?.metric, best, 'the winner has the lowest valLoss (goal: min)');
    assert.equal(uninterrupted.train.finalMetrics.valLoss, best, "the step's outputs are the winner's");
    assert.match(uninterrupted.train.model, new RegExp(`/train/trials/${winner(uninterrupted)?.index}/model`));

    // Concurrency, from the history of the uninterrupted run: above 1, at most maxParallel (3).
    const peak = peakConcurrency([...trialActivities(await fresh.handle.fetchHistory()).values()]);
    assert.ok(peak > 1 && peak <= 3, `peak concurrency ${peak}`);
    assert.ok(peakConcurrency([...killedTrials.values()]) <= 3);
    measured.peakConcurrency = String(peak);

    // The same sweep again: every trial is a cache hit of the finished ones, and the same outputs.
    const cached = await start('cached');
    const again = runOutputs.parse(await cached.handle.result());
    assert.deepEqual(again.train, uninterrupted.train, 'the same outputs, trial list included: steps after it hit their cache too');
    const shown = await cli.mlp('show', cached.workflowId, '--json');
    const view = z.object({ steps: z.array(z.looseObject({ id: z.string(), trials: z.array(z.looseObject({ index: z.number(), state: z.string() })).optional() })) }).parse(JSON.parse(shown.stdout));
    assert.deepEqual(view.steps.find((step) => step.id === 'train')?.trials?.map((trial) => trial.state), Array(6).fill('cached'));
  });
});
