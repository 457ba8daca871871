import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { z } from 'zod';
import { createNoopActivity } from '../../activities/steps/noop.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { createStepCacheActivities } from '../../activities/step-cache.ts';
import { loadPipelineFile } from '../../client/pipelines/pipeline-file.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../helpers/pipeline-workers.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

const exec = promisify(execFile);

const runResultSchema = z.object({
  workflowId: z.string(),
  runId: z.string(),
  specHash: z.string(),
  url: z.string(),
  existing: z.boolean(),
  status: z.enum(['completed', 'failed']).optional(),
  outputs: z.record(z.string(), z.unknown()).optional(),
  failure: z.object({ step: z.string().optional(), type: z.string(), message: z.string() }).optional(),
});

describe('mlp run on the real Temporal dev server and S3 server', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let workers: PipelineWorkers;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'cli-run' });
    const deps = { store: new ObjectStore(servers.storage), scratchDir: servers.dir };
    workers = await startPipelineWorkers({
      temporalAddress: servers.temporalAddress,
      namespace: servers.namespace,
      prefix: 'cli-run',
      activities: { ...createNoopActivity(deps), ...createStepCacheActivities(deps) },
    });
  });

  after(async () => {
    await workers?.stop();
    await servers?.stop();
  });

  /** Runs the CLI as a user would; resolves with its exit code and output instead of throwing. */
  async function mlp(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const connection = ['--address', servers.temporalAddress, '--namespace', servers.namespace, '--task-queue-prefix', workers.taskQueuePrefix];
    try {
      const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', ...args, ...connection], {
        env: { ...process.env, MLP_TEMPORAL_UI_URL: 'http://ui.test:8233' },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = z.object({ code: z.number(), stdout: z.string(), stderr: z.string() }).parse(error);
      return failed;
    }
  }

  it('starts the resolved pipeline, waits, and prints every step’s outputs; a resubmit is the same run', async () => {
    const file = 'test/fixtures/pipelines/diamond.yaml';
    const { resolved } = await loadPipelineFile(file, ['sleepMs=5']);

    const first = await mlp('run', file, '--set', 'sleepMs=5', '--wait', '--json');
    assert.equal(first.code, 0, first.stderr);
    const result = runResultSchema.parse(JSON.parse(first.stdout));
    assert.equal(result.workflowId, `diamond-${resolved.specHash.slice(0, 16)}`);
    assert.equal(result.status, 'completed');
    assert.equal(result.existing, false);
    assert.equal(result.url, `http://ui.test:8233/namespaces/${servers.namespace}/workflows/${result.workflowId}/${result.runId}`);
    assert.deepEqual(result.outputs?.['join'], { value: { left: 'left of hello', right: 'hello' } });

    const handle = workers.client.workflow.getHandle(result.workflowId);
    const description = await handle.describe();
    assert.equal(description.memo?.['specHash'], resolved.specHash);

    const again = await mlp('run', file, '--set', 'sleepMs=5', '--json');
    assert.equal(again.code, 0, again.stderr);
    const second = runResultSchema.parse(JSON.parse(again.stdout));
    assert.equal(second.workflowId, result.workflowId);
    assert.equal(second.runId, result.runId, 'the completed run is reused, not repeated');
    assert.equal(second.existing, true);
  });

  it('reports the failed step, its error type and message, with exit code 1', async () => {
    const human = await mlp('run', 'test/fixtures/pipelines/failing.yaml', '--wait');
    assert.equal(human.code, 1);
    assert.match(human.stderr, /error: step "broken" failed: DatasetError: no class folders \(step "broken", attempt 1\)/);

    const json = await mlp('run', 'test/fixtures/pipelines/failing.yaml', '--wait', '--json', '--run-key', 'again');
    assert.equal(json.code, 1);
    const result = runResultSchema.parse(JSON.parse(json.stdout));
    assert.equal(result.workflowId, 'failing-again');
    assert.deepEqual(result.failure, { step: 'broken', type: 'DatasetError', message: 'no class folders (step "broken", attempt 1)' });
  });

  it('refuses an invalid file before contacting Temporal, printing file:line:col', async () => {
    const result = await mlp('run', 'test/fixtures/pipelines/cycle.yaml');
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim(), 'test/fixtures/pipelines/cycle.yaml:8:12: needs form a cycle: b -> d -> c -> b');
  });
});
