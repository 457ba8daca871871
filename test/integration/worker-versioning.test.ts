import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import { z } from 'zod';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { deploymentStatus, type DeploymentStatus } from '../../client/deployments/deployment-status.ts';
import { spawnWorkerProcess } from '../../client/workers/worker-process.ts';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';
import { startTestServers, testWorkerEnv, type TestServers } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const exec = promisify(execFile);
const { EventType, PendingActivityState, WorkflowExecutionStatus } = proto.temporal.api.enums.v1;

/** Build B: the project's workflows with an incompatible `runPipeline` (a timer first). */
const BUILD_B_ENTRY = fileURLToPath(new URL('../fixtures/versioning/build-b-worker.ts', import.meta.url));

/**
 * The server refreshes a draining version's drainage from visibility every
 * VersionDrainageStatusRefreshInterval, after VersionDrainageStatusVisibilityGracePeriod (3 min
 * each by default): shortened so "drained" shows within seconds.
 */
const FAST_DRAINAGE = {
  'matching.wv.VersionDrainageStatusRefreshInterval': '1s',
  'matching.wv.VersionDrainageStatusVisibilityGracePeriod': '1s',
};

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('Worker Versioning: a run finishes on the build it started on (real dev server, worker processes)', function () {
  this.timeout(240_000);
  let servers: TestServers;
  let connection: Connection;
  let client: Client;
  const deployment = `versioning-${randomUUID().slice(0, 8)}`;
  const prefix = `ver-${randomUUID().slice(0, 8)}`;
  const workers: ChildProcess[] = [];
  const pids: Record<string, number> = {};

  function startBuild(buildId: 'build-a' | 'build-b' | 'build-c', env: Record<string, string> = {}): ChildProcess {
    const child = spawnWorkerProcess({
      logFile: join(servers.dir, `${buildId}.log`),
      ...(buildId === 'build-b' ? { entry: BUILD_B_ENTRY } : {}),
      env: testWorkerEnv(servers, { prefix, scratchDir: join(servers.dir, buildId) }, { MLP_LOG_LEVEL: 'info', MLP_DEPLOYMENT_NAME: deployment, MLP_BUILD_ID: buildId, ...env }),
    });
    workers.push(child);
    if (child.pid === undefined) throw new Error(`worker of ${buildId} did not start`);
    pids[buildId] = child.pid;
    return child;
  }

  async function mlp(...args: string[]): Promise<unknown> {
    const { stdout } = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', ...args, '--deployment', deployment, '--address', servers.temporalAddress, '--namespace', servers.namespace, '--json']);
    return JSON.parse(stdout);
  }

  const status = (): Promise<DeploymentStatus> => deploymentStatus(client, deployment);

  async function statusWhen(what: string, accept: (status: DeploymentStatus) => boolean, timeoutMs = 60_000): Promise<DeploymentStatus> {
    return waitUntil(
      what,
      async () => {
        const now = await status().catch(() => undefined);
        return now && accept(now) ? now : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    );
  }

  function pipeline(name: string, longSleepMs: number): ResolvedPipeline {
    return testPipeline(name, [
      testStep('prepare', 'noop', { with: { value: 'prepared' } }),
      // On the gpu queue: a pinned run's activities stay on its build on every queue.
      testStep('train', 'noop', { with: { value: 'trained', sleepMs: longSleepMs }, needs: ['prepare'], queue: 'gpu', heartbeatTimeout: '10s' }),
    ]);
  }

  async function startRun(name: string, longSleepMs: number): Promise<WorkflowHandle> {
    return client.workflow.start('runPipeline', pipelineStartOptions(pipeline(name, longSleepMs), { workflowId: `${name}-${randomUUID().slice(0, 8)}`, taskQueuePrefix: prefix }));
  }

  /** The build a run is on, as the server records it. */
  async function buildOf(handle: WorkflowHandle): Promise<string | undefined> {
    const info = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
    return info?.deploymentVersion?.buildId ?? undefined;
  }

  /** Who ran a run's workflow tasks and activities (worker identities are `<pid>@<host>`), and whether a workflow task failed. */
  async function whoRan(handle: WorkflowHandle): Promise<{ workflowTasks: Set<number>; activities: Set<number>; failedWorkflowTasks: number; timers: number }> {
    const history = await handle.fetchHistory();
    const pid = (identity: string | null | undefined): number => Number(/^(\d+)@/.exec(identity ?? '')?.[1] ?? NaN);
    const workflowTasks = new Set<number>();
    const activities = new Set<number>();
    let failedWorkflowTasks = 0;
    let timers = 0;
    for (const event of history.events ?? []) {
      if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) workflowTasks.add(pid(event.workflowTaskCompletedEventAttributes?.identity));
      if (event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) activities.add(pid(event.activityTaskStartedEventAttributes?.identity));
      if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) failedWorkflowTasks += 1;
      if (event.eventType === EventType.EVENT_TYPE_TIMER_STARTED) timers += 1;
    }
    return { workflowTasks, activities, failedWorkflowTasks, timers };
  }

  before(async function () {
    servers = await startTestServers({ bucketPrefix: 'versioning', temporalDynamicConfig: FAST_DRAINAGE });
    connection = await Connection.connect({ address: servers.temporalAddress });
    client = new Client({ connection, namespace: servers.namespace });
  });

  after(async function () {
    for (const child of workers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all(workers.map(exitOf));
    await connection?.close();
    await servers?.stop();
  });

  const buildLog = (buildId: string): Promise<string> => readFile(join(servers.dir, `${buildId}.log`), 'utf8').catch(() => '');

  it('the first build of a fresh deployment becomes current on its own; a second one waits for promote', async () => {
    startBuild('build-a');
    await statusWhen('build-a to become current', (now) => now.current === 'build-a', 120_000).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\nbuild-a log:\n${(await buildLog('build-a')).slice(-3000)}`);
    });
    startBuild('build-b');
    const now = await statusWhen('build-b to register', (now) => now.versions.some((version) => version.buildId === 'build-b'), 120_000).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\nbuild-b log:\n${(await buildLog('build-b')).slice(-3000)}`);
    });
    assert.equal(now.current, 'build-a', 'a later build does not take new runs before it is promoted');
    assert.equal(now.versions.find((version) => version.buildId === 'build-b')?.role, 'inactive');
  });

  let openRun: WorkflowHandle;
  let newRun: WorkflowHandle;

  it('after promote, the open run stays on build A (activities included) and finishes without non-determinism; a new run goes to B', async () => {
    // Long enough to outlast the promote and a whole run on B; asserted below, not assumed.
    openRun = await startRun('open', 12_000);
    await waitUntil(
      'the open run to be training on build A',
      async () => ((await openRun.describe()).raw.pendingActivities ?? []).some((activity) => activity.activityId === 'train' && activity.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED) || undefined,
      { timeoutMs: 60_000 },
    );
    assert.equal(await buildOf(openRun), 'build-a');

    const promoted = z.object({ buildId: z.string(), previous: z.object({ current: z.string().nullable() }) }).parse(await mlp('deploy', 'promote', 'build-b'));
    assert.deepEqual(promoted, { ...promoted, buildId: 'build-b', previous: { ...promoted.previous, current: 'build-a' } });

    newRun = await startRun('new', 0);
    await newRun.result();
    const openWhenNewEnded = (await openRun.describe()).status.name;
    assert.equal(openWhenNewEnded, 'RUNNING', 'the open run must still be on its long step when the run on B ends, or this test proves nothing');
    const draining = (await status()).versions.find((version) => version.buildId === 'build-a');
    assert.deepEqual(draining && { role: draining.role, openRuns: draining.openRuns }, { role: 'draining', openRuns: 1 }, 'build A still has the open run to serve');

    assert.equal(await buildOf(newRun), 'build-b');
    const onB = await whoRan(newRun);
    assert.equal(onB.timers, 1, "the new run ran build B's runPipeline (its marker timer)");
    assert.deepEqual([...onB.workflowTasks], [pids['build-b']]);
    assert.deepEqual([...onB.activities], [pids['build-b']]);

    const outputs = z.record(z.string(), z.object({ value: z.string() })).parse(await openRun.result());
    assert.equal(outputs['train']?.value, 'trained');
    assert.equal(await buildOf(openRun), 'build-a');
    const onA = await whoRan(openRun);
    assert.equal(onA.failedWorkflowTasks, 0, 'no workflow task failed (no non-determinism)');
    assert.equal(onA.timers, 0, "the open run never ran build B's code");
    assert.deepEqual([...onA.workflowTasks], [pids['build-a']]);
    assert.deepEqual([...onA.activities], [pids['build-a']], 'every activity of the open run ran on build A, the gpu step too');
  });

  it('reports build A drained once its last pinned run has ended, and mlp deploy status says so', async () => {
    await statusWhen('build-a to be reported drained', (now) => now.versions.some((version) => version.buildId === 'build-a' && version.role === 'drained'));
    const reported = z
      .object({ current: z.string().nullable(), versions: z.array(z.object({ buildId: z.string(), role: z.string(), openRuns: z.number() })) })
      .parse(await mlp('deploy', 'status'));
    assert.equal(reported.current, 'build-b');
    assert.deepEqual(
      reported.versions.map(({ buildId, role, openRuns }) => ({ buildId, role, openRuns })),
      [
        { buildId: 'build-a', role: 'drained', openRuns: 0 },
        { buildId: 'build-b', role: 'current', openRuns: 0 },
      ],
    );
  });

  it('a 50 % ramp sends some new runs to each build', async () => {
    const ramped = z.object({ buildId: z.string(), percent: z.number() }).parse(await mlp('deploy', 'ramp', 'build-a', '50'));
    assert.deepEqual(ramped, { ...ramped, buildId: 'build-a', percent: 50 });
    // 16 runs: all on one build by chance is 2 in 65 536.
    const runs = await Promise.all(Array.from({ length: 16 }, (_, index) => startRun(`ramp-${index}`, 0)));
    await Promise.all(runs.map((run) => run.result()));
    const builds = await Promise.all(runs.map(buildOf));
    const count = (buildId: string): number => builds.filter((build) => build === buildId).length;
    assert.equal(count('build-a') + count('build-b'), runs.length, `every run on one of the two builds: ${builds.join(', ')}`);
    assert.ok(count('build-a') > 0 && count('build-b') > 0, `both builds got runs: A ${count('build-a')}, B ${count('build-b')}`);
    const described = await runs[0]?.describe();
    assert.equal(described?.status.code, WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED);
  });

  it("a worker with set-current always (as `mlp worker` starts it) takes new runs over at once, even polling fewer queues than the build before", async () => {
    startBuild('build-c', { MLP_DEPLOYMENT_SET_CURRENT: 'always', MLP_WORKER_QUEUES: 'cpu' });
    const now = await statusWhen('build-c to become current', (now) => now.current === 'build-c', 120_000).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\nbuild-c log:\n${(await buildLog('build-c')).slice(-3000)}`);
    });
    assert.equal(now.versions.find((version) => version.buildId === 'build-b')?.role, 'draining', 'the build before stops getting new runs');
  });
});

describe('Worker Versioning against a server that refuses it', function () {
  this.timeout(120_000);
  let servers: TestServers;

  before(async function () {
    servers = await startTestServers({ bucketPrefix: 'noversioning', temporalDynamicConfig: { 'system.enableDeploymentVersions': false } });
  });

  after(async function () {
    await servers?.stop();
  });

  it('fails at start, naming the dynamic config to enable and the way to opt out', async () => {
    const logFile = join(servers.dir, 'worker.log');
    const child = spawnWorkerProcess({
      logFile,
      env: testWorkerEnv(servers, { prefix: `nover-${randomUUID().slice(0, 8)}`, scratchDir: join(servers.dir, 'scratch') }, { MLP_WORKER_QUEUES: 'cpu' }),
    });
    assert.equal(await exitOf(child), 1);
    const log = await readFile(logFile, 'utf8');
    assert.match(log, /worker failed: ConfigError: Worker versioning is on \(MLP_WORKER_VERSIONING=on\) but Temporal at \S+ refuses Worker Deployments/);
    assert.match(log, /system\.enableDeploymentVersions/);
    assert.match(log, /MLP_WORKER_VERSIONING=off/);
  });
});
