import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { z } from 'zod';
import { createNoopActivity } from '../../activities/steps/noop.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { createStepCacheActivities } from '../../activities/step-cache.ts';
import { loadPipelineFile } from '../../client/pipelines/pipeline-file.ts';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { PIPELINE_PROGRESS_QUERY, type PipelineProgress } from '../../common/pipeline-progress.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { createStepGate } from '../helpers/step-gate.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const exec = promisify(execFile);

const DIAMOND = 'test/fixtures/pipelines/diamond.yaml';
const CHAIN = 'test/fixtures/pipelines/sleepy-chain.yaml';

const stepSchema = z.object({
  id: z.string(),
  state: z.string(),
  attempt: z.number().optional(),
  cached: z.boolean(),
  outputs: z.record(z.string(), z.unknown()).optional(),
  heartbeat: z.unknown().optional(),
});
const viewSchema = z.object({
  workflowId: z.string(),
  runId: z.string(),
  status: z.string(),
  state: z.string(),
  source: z.enum(['query', 'history']),
  note: z.string().optional(),
  steps: z.array(stepSchema),
});
const runSummarySchema = z.object({
  workflowId: z.string(),
  status: z.string(),
  pipeline: z.string().optional(),
  pipelineStatus: z.string().optional(),
  specHash: z.string().optional(),
  scheduledBy: z.string().optional(),
});
const scheduleViewSchema = z.object({
  scheduleId: z.string(),
  pipeline: z.string().optional(),
  paused: z.boolean(),
  overlap: z.string(),
  catchupWindowMs: z.number(),
  timeZone: z.string().optional(),
  actionsTaken: z.number(),
  nextActionTimes: z.array(z.string()),
});
const triggerSchema = z.object({ outcome: z.enum(['started', 'skipped', 'requested']), workflowId: z.string().optional(), overlap: z.string() });

describe('mlp watch, list, show, cancel, reproduce and schedule on the real Temporal dev server', function () {
  this.timeout(180_000);
  let servers: TestServers;
  let workers: PipelineWorkers;
  const gate = createStepGate();

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'cli-operate' });
    const deps = { store: new ObjectStore(servers.storage), scratchDir: servers.dir };
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'cli-operate',
      activities: { noop: gate.wrap(createNoopActivity(deps).noop), ...createStepCacheActivities(deps) },
    });
  });

  after(async () => {
    await workers?.stop();
    await servers?.stop();
  });

  function connectionArgs(): string[] {
    return ['--address', servers.temporalAddress, '--namespace', servers.namespace, '--task-queue-prefix', workers.taskQueuePrefix];
  }

  /** Runs the CLI as a user would; resolves with its exit code and output instead of throwing. */
  async function mlp(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', ...args, ...connectionArgs()], {
        env: { ...process.env, MLP_TEMPORAL_UI_URL: 'http://ui.test:8233' },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      return z.object({ code: z.number(), stdout: z.string(), stderr: z.string() }).parse(error);
    }
  }

  async function json<T>(schema: z.ZodType<T>, ...args: string[]): Promise<T> {
    const result = await mlp(...args, '--json');
    assert.equal(result.code, 0, `mlp ${args.join(' ')}: ${result.stderr}`);
    return schema.parse(JSON.parse(result.stdout));
  }

  /** Starts a pipeline file directly (no CLI process), as `mlp run` would. */
  async function start(file: string, settings: string[], prefix = workers.taskQueuePrefix, workflowId?: string): Promise<WorkflowHandleWithFirstExecutionRunId> {
    const { resolved } = await loadPipelineFile(file, settings);
    return workers.client.workflow.start('runPipeline', pipelineStartOptions(resolved, { workflowId: workflowId ?? `${resolved.name}-${randomUUID().slice(0, 8)}`, taskQueuePrefix: prefix }));
  }

  async function visible(query: string, workflowId: string): Promise<void> {
    await waitUntil(`${workflowId} in visibility`, async () => {
      for await (const info of workers.client.workflow.list({ query })) if (info.workflowId === workflowId) return true;
      return undefined;
    });
  }

  describe('a finished diamond run', () => {
    let handle: WorkflowHandle;
    // A message of its own, so the cached join step of other tests' diamond runs is not a hit here.
    const message = `hello ${randomUUID().slice(0, 8)}`;

    before(async () => {
      handle = await start(DIAMOND, ['sleepMs=5', `message=${message}`]);
      await handle.result();
      await visible(`WorkflowType = 'runPipeline' AND ExecutionStatus = 'Completed'`, handle.workflowId);
    });

    it('is listed with its search attributes and memo, filtered by pipeline and status', async () => {
      const runs = await json(z.array(runSummarySchema), 'list', '--pipeline', 'diamond', '--status', 'succeeded');
      const run = runs.find((candidate) => candidate.workflowId === handle.workflowId);
      assert.ok(run, `${handle.workflowId} not in ${JSON.stringify(runs)}`);
      assert.equal(run.pipeline, 'diamond');
      assert.equal(run.pipelineStatus, 'succeeded');
      assert.equal(run.status, 'COMPLETED');
      assert.match(run.specHash ?? '', /^[a-f0-9]{64}$/);
      assert.ok(runs.every((candidate) => candidate.pipeline === 'diamond' && candidate.status === 'COMPLETED'));
    });

    it('shows every step with its state, attempt and outputs, answered by the worker', async () => {
      const view = await json(viewSchema, 'show', handle.workflowId);
      assert.equal(view.source, 'query');
      assert.equal(view.status, 'COMPLETED');
      assert.equal(view.state, 'succeeded');
      assert.deepEqual(
        view.steps.map((step) => [step.id, step.state, step.attempt]),
        [
          ['start', 'succeeded', 1],
          ['left', 'succeeded', 1],
          ['right', 'succeeded', 1],
          ['join', 'succeeded', 1],
        ],
      );
      assert.deepEqual(view.steps[3]?.outputs, { value: { left: `left of ${message}`, right: message } });

      const human = await mlp('show', handle.workflowId);
      assert.equal(human.code, 0, human.stderr);
      const lines = human.stdout.split('\n');
      assert.equal(lines[0], `${handle.workflowId}  succeeded (COMPLETED)`);
      assert.ok(lines.includes(`  http://ui.test:8233/namespaces/${servers.namespace}/workflows/${handle.workflowId}/${view.runId}`), human.stdout);
      for (const id of ['start', 'left', 'right', 'join']) {
        assert.match(human.stdout, new RegExp(`^  ${id} +succeeded +noop on (cpu|gpu) +attempt 1  \\d+\\.\\d s$`, 'm'));
      }
    });

    it('reproduces: the recorded spec runs again under a new id, every step (cache off) with identical outputs', async () => {
      const result = await json(
        z.object({
          workflowId: z.string(),
          status: z.string(),
          reproduced: z.boolean(),
          reproduces: z.object({ workflowId: z.string() }),
          steps: z.array(z.object({ step: z.string(), result: z.string() })),
        }),
        'reproduce',
        handle.workflowId,
      );
      assert.notEqual(result.workflowId, handle.workflowId);
      assert.equal(result.reproduces.workflowId, handle.workflowId);
      assert.equal(result.status, 'COMPLETED');
      assert.equal(result.reproduced, true);
      assert.deepEqual(result.steps, ['start', 'left', 'right', 'join'].map((step) => ({ step, result: 'identical' })));
      const rerun = await workers.client.workflow.getHandle(result.workflowId).query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
      assert.equal(rerun.steps.find((step) => step.id === 'join')?.state, 'succeeded', 'join ran again instead of hitting the cache');
    });
  });

  it('shows a run no worker serves from its history, saying why', async () => {
    const orphan = await start(DIAMOND, [], `nobody-${randomUUID().slice(0, 8)}`);
    try {
      const view = await json(viewSchema, 'show', orphan.workflowId);
      assert.equal(view.source, 'history');
      assert.match(view.note ?? '', /^no worker polls task queue nobody-.*-cpu; showing what the history records/);
      assert.equal(view.status, 'RUNNING');
      assert.deepEqual(view.steps.map((step) => step.state), ['pending', 'pending', 'pending', 'pending']);
    } finally {
      await orphan.terminate('test done');
    }
  });

  it('cancels a running pipeline: the run ends cancelled and its running step saw the cancellation', async () => {
    const handle = await start(CHAIN, ['sleepMs=60000']);
    await waitUntil('step one running', async () => {
      const progress = await handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
      return progress.steps[0]?.state === 'running' ? true : undefined;
    });
    const result = await json(z.object({ status: z.string() }), 'cancel', handle.workflowId);
    assert.equal(result.status, 'CANCELLED');
    assert.equal((await handle.describe()).status.name, 'CANCELLED');
    const events = (await handle.fetchHistory()).events ?? [];
    // Recorded only when the activity itself reported the cancellation (it heartbeats to notice).
    assert.equal(events.filter((event) => event.activityTaskCanceledEventAttributes).length, 1);
    const progress = await handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
    assert.deepEqual(progress.steps.map((step) => step.state), ['cancelled', 'cancelled', 'cancelled', 'cancelled']);
  });

  it('watches a run: JSON lines whose finished-step count moves forward, then an end line and exit code 0', async () => {
    // Each step stays running until the watcher has shown it so, then the test lets it end:
    // the watcher sees every step, however slowly it or the machine starts.
    const workflowId = `sleepy-chain-${randomUUID().slice(0, 8)}`;
    gate.hold(workflowId);
    const handle = await start(CHAIN, ['sleepMs=5'], undefined, workflowId);
    const child = spawn(process.execPath, ['--import', 'tsx', 'client/bin.ts', 'watch', handle.workflowId, '--json', '--interval', '300', ...connectionArgs()], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const parseLines = () => stdout.split('\n').slice(0, -1).map((line) => z.looseObject({ event: z.string() }).parse(JSON.parse(line)));
    const progressOf = (lines: ReturnType<typeof parseLines>) => lines.filter((line) => line.event === 'progress').map((line) => viewSchema.parse(line));
    for (const [index, stepId] of ['one', 'two', 'three', 'four'].entries()) {
      await waitUntil(`mlp watch to show step ${stepId} running with a heartbeat (stderr: ${stderr})`, async () =>
        progressOf(parseLines()).some((view) => view.steps.filter((step) => step.state === 'succeeded').length === index && view.steps[index]?.state === 'running' && view.steps[index]?.heartbeat !== undefined)
          ? true
          : undefined,
      { timeoutMs: 60_000 });
      gate.release(workflowId, stepId);
    }
    const code = await exited;
    assert.equal(code, 0, stderr);
    const lines = parseLines();
    const progress = progressOf(lines);
    const done = progress.map((view) => view.steps.filter((step) => step.state === 'succeeded').length);
    assert.ok(done.every((count, index) => index === 0 || count >= (done[index - 1] ?? 0)), `went backwards: ${done.join(',')}`);
    assert.ok(new Set(done).size >= 3, `too few distinct progress points: ${done.join(',')}`);
    assert.equal(done.at(-1), 4);
    assert.ok(progress.some((view) => view.steps.some((step) => step.state === 'running' && step.heartbeat !== undefined)), 'no heartbeat seen');
    assert.deepEqual(lines.at(-1), { event: 'end', workflowId: handle.workflowId, runId: handle.firstExecutionRunId, status: 'COMPLETED', state: 'succeeded' });
  });

  describe('a schedule of the sleepy chain', () => {
    const scheduleId = `chain-${randomUUID().slice(0, 8)}`;

    after(async () => {
      // Runs the schedule started would otherwise outlive the test.
      for await (const info of workers.client.workflow.list({ query: `TemporalScheduledById = '${scheduleId}' AND ExecutionStatus = 'Running'` })) {
        await workers.client.workflow.getHandle(info.workflowId, info.runId).terminate('test done');
      }
    });

    it('is created from the file with a cron, the skip policy and a one-day catch-up window', async () => {
      const view = await json(scheduleViewSchema, 'schedule', 'create', CHAIN, '--set', 'sleepMs=8000', '--cron', '0 2 * * *', '--tz', 'Europe/Berlin', '--schedule-id', scheduleId);
      assert.equal(view.scheduleId, scheduleId);
      assert.equal(view.pipeline, 'sleepy-chain');
      assert.equal(view.paused, false);
      assert.equal(view.overlap, 'skip');
      assert.equal(view.catchupWindowMs, 86_400_000);
      assert.equal(view.timeZone, 'Europe/Berlin');
      assert.ok(view.nextActionTimes.length > 0);
    });

    it('starts a run on trigger that is listed under the schedule with its pipeline; a second trigger while it runs starts nothing', async () => {
      const first = await json(triggerSchema, 'schedule', 'trigger', scheduleId);
      assert.equal(first.outcome, 'started');
      assert.match(first.workflowId ?? '', /^sleepy-chain-scheduled-/);
      const second = await json(triggerSchema, 'schedule', 'trigger', scheduleId);
      assert.deepEqual(second, { outcome: 'skipped', overlap: 'skip' });

      await visible(`TemporalScheduledById = '${scheduleId}'`, first.workflowId ?? '');
      const runs = await json(z.array(runSummarySchema), 'list', '--schedule', scheduleId);
      assert.deepEqual(
        runs.map((run) => [run.workflowId, run.pipeline, run.scheduledBy, run.status]),
        [[first.workflowId, 'sleepy-chain', scheduleId, 'RUNNING']],
      );
    });

    it('pauses: describe shows it paused with the note', async () => {
      const paused = await json(scheduleViewSchema, 'schedule', 'pause', scheduleId, '--note', 'maintenance');
      assert.equal(paused.paused, true);
      const described = await workers.client.schedule.getHandle(scheduleId).describe();
      assert.equal(described.state.paused, true);
      assert.equal(described.state.note, 'maintenance');
    });

    it('deletes it', async () => {
      const result = await mlp('schedule', 'delete', scheduleId);
      assert.equal(result.code, 0, result.stderr);
      await assert.rejects(workers.client.schedule.getHandle(scheduleId).describe(), { name: 'ScheduleNotFoundError' });
    });
  });

  it('takes no cron action while paused, still runs a manual trigger (as Temporal documents), and acts again once unpaused', async () => {
    const scheduleId = `every-second-${randomUUID().slice(0, 8)}`;
    const handle = workers.client.schedule.getHandle(scheduleId);
    // The same schedule unpaused, created after it: once the twin has acted on two cron times,
    // the paused one has seen them pass too.
    const twin = workers.client.schedule.getHandle(`${scheduleId}-twin`);
    // Seven fields: seconds first, years last — every second.
    const everySecond = ['schedule', 'create', DIAMOND, '--set', 'sleepMs=5', '--cron', '* * * * * * *', '--overlap', 'allow-all'];
    try {
      const created = await json(scheduleViewSchema, ...everySecond, '--paused', '--schedule-id', scheduleId);
      assert.equal(created.paused, true);
      await json(scheduleViewSchema, ...everySecond, '--schedule-id', twin.scheduleId);
      await waitUntil('the unpaused twin to act on two cron times', async () => ((await twin.describe()).info.numActionsTaken >= 2 ? true : undefined));
      await twin.delete();
      assert.equal((await handle.describe()).info.numActionsTaken, 0, 'a paused schedule acted on its cron');

      const manual = await json(triggerSchema, 'schedule', 'trigger', scheduleId);
      assert.equal(manual.outcome, 'started');

      const unpaused = await json(scheduleViewSchema, 'schedule', 'unpause', scheduleId);
      assert.equal(unpaused.paused, false);
      await waitUntil('a cron action after unpause', async () => ((await handle.describe()).info.numActionsTaken >= 3 ? true : undefined), { timeoutMs: 15_000 });
    } finally {
      await handle.delete();
      await twin.delete().catch(() => undefined); // already deleted unless the test failed first
    }
  });

  it("applies the file's own schedule block, and applying it again updates the same schedule", async () => {
    const scheduleId = `applied-${randomUUID().slice(0, 8)}`;
    const applySchema = scheduleViewSchema.extend({ action: z.enum(['created', 'updated']) });
    try {
      const first = await json(applySchema, 'schedule', 'apply', CHAIN, '--schedule-id', scheduleId, '--catchup-window', '1h');
      assert.equal(first.action, 'created');
      assert.equal(first.timeZone, 'Europe/Berlin');
      assert.equal(first.overlap, 'skip');
      assert.equal(first.catchupWindowMs, 3_600_000);
      // 02:00 in Berlin is 00:00 or 01:00 UTC, depending on daylight saving time.
      assert.ok(first.nextActionTimes.every((time) => /T0[01]:00:00\.000Z$/.test(time)), first.nextActionTimes.join(', '));
      const again = await json(applySchema, 'schedule', 'apply', CHAIN, '--schedule-id', scheduleId, '--set', 'sleepMs=1');
      assert.equal(again.action, 'updated');
      assert.equal(again.catchupWindowMs, 86_400_000);
    } finally {
      await workers.client.schedule.getHandle(scheduleId).delete();
    }
  });

  it('exits 2 on a usage error and 1 when the run does not exist', async () => {
    const usage = await mlp('list', '--status', 'bogus');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /argument 'bogus' is invalid/);
    const missing = await mlp('show', 'no-such-run');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: WorkflowNotFoundError: /m);
  });
});
