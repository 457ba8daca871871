import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { ObjectStore } from '../../activities/object-store.ts';
import { createStepLogActivities } from '../../activities/run/step-log-reader.ts';
import { createStepLogWriter } from '../../activities/run/step-log.ts';
import { createNoopActivity } from '../../activities/steps/noop.ts';
import { createStepCacheActivities } from '../../activities/step-cache.ts';
import { loadPipelineFile } from '../../client/pipelines/pipeline-file.ts';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { stepLogKey } from '../../common/object-keys.ts';
import { PIPELINE_PROGRESS_QUERY, type PipelineProgress } from '../../common/pipeline-progress.ts';
import { stepRunPrefix } from '../../common/step-activities.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { createStepGate } from '../helpers/step-gate.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const exec = promisify(execFile);
const CHAIN = 'test/fixtures/pipelines/sleepy-chain.yaml';

/**
 * `mlp logs` as a user runs it, against the real Temporal dev server and S3 server and a worker
 * that reads the logs: a step held running by a gate while the step-log writer streams its log,
 * as the run step's activity does.
 */
describe('mlp logs on the real stack', function () {
  this.timeout(180_000);
  let servers: TestServers;
  let workers: PipelineWorkers;
  let store: ObjectStore;
  const gate = createStepGate();

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'mlp-logs' });
    store = new ObjectStore(servers.storage);
    const deps = { store, scratchDir: servers.dir };
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'mlp-logs',
      activities: { noop: gate.wrap(createNoopActivity(deps).noop), ...createStepCacheActivities(deps), ...createStepLogActivities(deps) },
    });
  });

  after(async () => {
    await workers?.stop();
    await servers?.stop();
  });

  const connection = (): string[] => ['--address', servers.temporalAddress, '--namespace', servers.namespace, '--task-queue-prefix', workers.taskQueuePrefix];

  async function mlp(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', ...args, ...connection()]);
      return { code: 0, stdout, stderr };
    } catch (error) {
      return z.object({ code: z.number(), stdout: z.string(), stderr: z.string() }).parse(error);
    }
  }

  async function stepState(handle: WorkflowHandle, stepId: string): Promise<string | undefined> {
    const progress = await handle.query<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
    return progress.steps.find((step) => step.id === stepId)?.state;
  }

  async function untilRunning(handle: WorkflowHandle, stepId: string): Promise<void> {
    await waitUntil(`${stepId} running`, async () => ((await stepState(handle, stepId)) === 'running' ? true : undefined));
  }

  it('follows a running step’s log live, exits when the step ended with the whole log, and prints every step’s log after', async () => {
    const { resolved } = await loadPipelineFile(CHAIN, ['sleepMs=1']);
    const workflowId = `sleepy-chain-${randomUUID().slice(0, 8)}`;
    gate.hold(workflowId);
    const handle = await workers.client.workflow.start('runPipeline', pipelineStartOptions(resolved, { workflowId, taskQueuePrefix: workers.taskQueuePrefix }));

    await untilRunning(handle, 'one');
    const one = createStepLogWriter({ store, key: stepLogKey(stepRunPrefix(workflowId, 'one'), 1) });
    one.append('preparing 569 rows');
    await one.close({ attempt: 1, exitCode: 0, signal: null, startedAt: new Date().toISOString(), endedAt: new Date().toISOString() });
    gate.release(workflowId, 'one');

    await untilRunning(handle, 'two');
    const two = createStepLogWriter({ store, key: stepLogKey(stepRunPrefix(workflowId, 'two'), 1), flushIntervalMs: 100 });
    const startedAt = new Date().toISOString();
    two.append('fit: epoch 1');

    const follower = spawn(process.execPath, ['--import', 'tsx', 'client/bin.ts', 'logs', workflowId, 'two', '--follow', '--interval', '200', ...connection()], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const printed: string[] = [];
    let stderr = '';
    createInterface({ input: follower.stdout }).on('line', (line) => printed.push(line));
    follower.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    const exited = new Promise<number | null>((resolve) => follower.once('close', resolve));

    await waitUntil('the follower to print the first line', async () => (printed.includes('fit: epoch 1') ? true : undefined), { timeoutMs: 60_000 });
    two.append('fit: epoch 2');
    await waitUntil('the follower to print a line written while it follows', async () => (printed.includes('fit: epoch 2') ? true : undefined));
    assert.equal(await stepState(handle, 'two'), 'running', 'both lines came while the step ran');

    two.append('fit: done');
    await two.close({ attempt: 1, exitCode: 0, signal: null, startedAt, endedAt: new Date().toISOString() });
    for (const stepId of ['two', 'three', 'four']) gate.release(workflowId, stepId);
    assert.equal(await exited, 0, stderr);
    assert.deepEqual(printed, ['fit: epoch 1', 'fit: epoch 2', 'fit: done']);
    await handle.result();

    const all = await mlp('logs', workflowId);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, 'one | preparing 569 rows\ntwo | fit: epoch 1\ntwo | fit: epoch 2\ntwo | fit: done\n');

    const unknownStep = await mlp('logs', workflowId, 'too');
    assert.equal(unknownStep.code, 1);
    assert.match(unknownStep.stderr, new RegExp(`Run ${workflowId} has no step 'too'; its steps: one, two, three, four`));
  });

  it('says a run does not exist', async () => {
    const result = await mlp('logs', 'no-such-run-4f2a');
    assert.equal(result.code, 1);
    assert.ok(result.stderr.includes(`mlp logs: no run no-such-run-4f2a in namespace ${servers.namespace}`), result.stderr);
  });
});
