import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { PROJECT_ROOT } from '../../client/servers/binaries.ts';
import { freePort, isRunning } from '../../client/servers/launch.ts';
import { parseStackConfig, type StackConfig } from '../../client/stack/config.ts';
import { stackConnection, stackWorkerEnv } from '../../client/stack/connection.ts';
import { startWorkerGroup } from '../../client/workers/worker-group.ts';
import { stackDown, stackUp } from '../../client/stack/stack.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';
import { waitUntil } from '../helpers/wait-until.ts';

/** A running `./mlp worker` (the launcher) and what it and its worker processes printed. */
interface LaunchedWorker {
  launcher: ChildProcess;
  workerPids: number[];
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Pino lines of the worker processes with this message. */
function logLines(output: string, message: RegExp): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line): Record<string, unknown> => JSON.parse(line))
    .filter((entry) => typeof entry['msg'] === 'string' && message.test(entry['msg']));
}

describe('worker processes (mlp worker): signals, graceful shutdown, no worker left behind', function () {
  this.timeout(240_000);
  let home: string;
  let stackConfig: StackConfig;
  let connection: Connection;
  let client: Client;
  /** Environment that points the CLI at this test's stack (as `--home` and the port flags do). */
  let stackEnv: Record<string, string>;
  const launched: LaunchedWorker[] = [];

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'mlp-lifecycle-'));
    const [temporalPort, uiPort, s3Port] = [await freePort(), await freePort(), await freePort()];
    stackConfig = parseStackConfig({ home, temporalPort: String(temporalPort), uiPort: String(uiPort), s3Port: String(s3Port) }, {});
    stackEnv = { MLP_HOME: home, MLP_TEMPORAL_PORT: String(temporalPort), MLP_TEMPORAL_UI_PORT: String(uiPort), MLP_S3_PORT: String(s3Port) };
    await stackUp(stackConfig);
    connection = await Connection.connect({ address: stackConnection(stackConfig).temporalAddress });
    client = new Client({ connection });
  });

  after(async () => {
    for (const worker of launched) {
      for (const pid of [worker.launcher.pid ?? 0, ...worker.workerPids]) {
        if (pid > 0 && isRunning(pid)) process.kill(pid, 'SIGKILL');
      }
    }
    await connection?.close();
    if (stackConfig) await stackDown(stackConfig);
    if (home) rmSync(home, { recursive: true, force: true });
  });

  /** Starts `./mlp worker` exactly as a user or a supervisor does, and waits until both workers poll. */
  async function startWorker(): Promise<LaunchedWorker> {
    const launcher = spawn(join(PROJECT_ROOT, 'mlp'), ['worker', '--home', home, '--queues', 'cpu', '--engine', 'wasm'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, MLP_SHUTDOWN_GRACE_TIME: '30s' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    launcher.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    launcher.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      launcher.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const worker: LaunchedWorker = { launcher, workerPids: [], output: () => output, exited };
    launched.push(worker);
    await waitUntil('both worker processes to start polling', async () => logLines(output, /^Worker started$/).length === 2 || launcher.exitCode !== null || undefined, { timeoutMs: 120_000 });
    assert.equal(launcher.exitCode, null, `mlp worker exited early:\n${output}`);
    const pids = /worker processes \(split\): (\d+) (\d+)/.exec(output);
    assert.ok(pids, `mlp worker names its worker processes:\n${output}`);
    worker.workerPids = [Number(pids[1]), Number(pids[2])];
    const roles = logLines(output, /^Worker started$/).map((entry) => `${String(entry['role'])}:${String(entry['pid'])}`).sort();
    assert.deepEqual(roles, [`activities:${pids[2]}`, `workflows:${pids[1]}`].sort(), 'one workflows and one activities process, the pids printed');
    return worker;
  }

  async function allGone(worker: LaunchedWorker, timeoutMs: number): Promise<number> {
    const started = Date.now();
    await waitUntil(`worker processes ${worker.workerPids.join(', ')} to exit`, async () => worker.workerPids.every((pid) => !isRunning(pid)) || undefined, { timeoutMs });
    return Date.now() - started;
  }

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`${signal} to mlp worker reaches both worker processes, which stop gracefully, and the launcher exits 0 with them`, async () => {
      const worker = await startWorker();
      worker.launcher.kill(signal);
      const { code } = await worker.exited;
      assert.equal(code, 0, worker.output());
      // The launcher waits for its workers, so they are gone by the time it exits.
      assert.deepEqual(worker.workerPids.filter((pid) => isRunning(pid)), []);
      const shutdowns = logLines(worker.output(), /^Shutting down/);
      assert.deepEqual(shutdowns.map((entry) => entry['reason']), [signal, signal], 'each worker logs the signal it got, once');
      assert.deepEqual(shutdowns.map((entry) => entry['graceSeconds']), [30, 30]);
      assert.equal(logLines(worker.output(), /^Worker stopped$/).length, 2);
    });
  }

  it('SIGKILL of mlp worker leaves no worker behind: both notice their launcher is gone and stop', async () => {
    const worker = await startWorker();
    worker.launcher.kill('SIGKILL');
    await worker.exited;
    const ms = await allGone(worker, 30_000);
    const reasons = logLines(worker.output(), /^Shutting down/).map((entry) => entry['reason']);
    assert.deepEqual(reasons, ['launcher exited', 'launcher exited']);
    process.stdout.write(`      (worker processes gone ${ms} ms after the launcher's SIGKILL)\n`);
  });

  it('never runs half a worker: when the activities process fails at start, the workflows process is stopped and the group exits 1', async () => {
    const closedPort = await freePort();
    const group = startWorkerGroup({
      env: { ...stackWorkerEnv(stackConnection(stackConfig)), S3_ENDPOINT: `http://127.0.0.1:${closedPort}`, MLP_ENGINE: 'wasm', MLP_LOG_LEVEL: 'info' },
      logFile: join(home, 'half-worker.log'),
    });
    const [workflows, activities] = group.processes;
    assert.equal(await group.exited, 1, 'the code of the process that failed');
    // The activities process could not reach S3; the workflows process (which needs no S3) was
    // stopped by the group (by SIGTERM, during its start or after).
    assert.equal(activities?.exitCode, 1);
    assert.ok(workflows?.exitCode === 0 || workflows?.signalCode === 'SIGTERM', `workflows process: ${workflows?.exitCode} ${workflows?.signalCode}`);
    assert.match(await readFile(join(home, 'half-worker.log'), 'utf8'), /worker failed: .*127\.0\.0\.1/);
  });

  it('SIGTERM to mlp demo mid-run stops its worker processes and the demo exits 143', async () => {
    const demo = spawn(join(PROJECT_ROOT, 'mlp'), ['demo', '--pipeline', 'test/fixtures/pipelines/sleepy-chain.yaml', '--set', 'sleepMs=60000'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...stackEnv, MLP_SHUTDOWN_GRACE_TIME: '1s' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    demo.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    demo.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    launched.push({ launcher: demo, workerPids: [], output: () => output, exited: exited.then((code) => ({ code, signal: null })) });
    await waitUntil('the first step to run', async () => /one\s+running/.test(output) || demo.exitCode !== null || undefined, { timeoutMs: 120_000 });
    const workerLog = join(home, 'logs', 'demo-worker.log');
    const pids = logLines(await readFile(workerLog, 'utf8'), /^Worker started$/).map((entry) => Number(entry['pid']));
    assert.equal(pids.length, 2, `a workflows and an activities process:\n${output}`);

    demo.kill('SIGTERM');
    assert.equal(await exited, 143, output);
    assert.deepEqual(pids.filter((pid) => isRunning(pid)), [], 'no worker process outlives the demo');
    const reasons = logLines(await readFile(workerLog, 'utf8'), /^Shutting down/).map((entry) => entry['reason']);
    assert.deepEqual(reasons, ['SIGTERM', 'SIGTERM']);
    // Leave no open run behind for the next worker on these queues.
    const workflowId = /4\/4 run: (\S+)/.exec(output)?.[1];
    assert.ok(workflowId, output);
    await client.workflow.getHandle(workflowId).terminate('test over');
  });

  it('SIGTERM lets a running step finish: its result is recorded in attempt 1, and the run completes on the next worker', async () => {
    const worker = await startWorker();
    const workflowId = `lifecycle-${randomUUID().slice(0, 8)}`;
    const spec = testPipeline('lifecycle', [testStep('nap', 'noop', { with: { value: 'done', sleepMs: 4000 }, heartbeatTimeout: '10s' })]);
    const handle = await client.workflow.start('runPipeline', pipelineStartOptions(spec, { workflowId }));
    await waitUntil(
      'the step to start',
      async () => {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        return pending.some((activity) => activity.state === proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED) || undefined;
      },
      { timeoutMs: 60_000 },
    );

    worker.launcher.kill('SIGTERM');
    const stoppedAt = Date.now();
    assert.equal((await worker.exited).code, 0, worker.output());
    const running = logLines(worker.output(), /^Shutting down/).map((entry) => entry['runningActivities']);
    assert.ok(running.includes(1), `the activities process reported the running step: ${JSON.stringify(running)}`);

    // The step was not cancelled by the shutdown: it completed, on its first attempt.
    const events = (await handle.fetchHistory()).events ?? [];
    const completed = events.filter((event) => event.activityTaskCompletedEventAttributes);
    const started = events.flatMap((event) => (event.activityTaskStartedEventAttributes ? [event.activityTaskStartedEventAttributes] : []));
    assert.equal(completed.length, 1, 'the running step completed before its worker exited');
    assert.deepEqual(started.map((attributes) => attributes.attempt), [1]);
    assert.equal(events.filter((event) => event.activityTaskFailedEventAttributes || event.activityTaskTimedOutEventAttributes).length, 0);

    // Nobody runs the workflow now; a new worker picks it up where it stopped.
    const next = await startWorker();
    assert.deepEqual(await handle.result(), { nap: { value: 'done' } });
    process.stdout.write(`      (graceful stop with a running step: ${Date.now() - stoppedAt} ms until the run completed on the next worker)\n`);
    next.launcher.kill('SIGTERM');
    assert.equal((await next.exited).code, 0);
  });
});
