/**
 * Does a CPU `train` step hold up workflow tasks and progress queries? Runs a small pipeline on
 * the real Temporal dev server and S3 server (started here) with real worker processes, once per
 * layout of `mlp worker`:
 *
 *   single  workflows and activities in one process (the layout before issue 11)
 *   split   a `workflows` process and an `activities` process (what `mlp worker` runs now)
 *
 *   npm run bench:event-loop [-- --layouts single,split --epochs 2 --chain 12]
 *
 * The pipeline: download → subset (32 synthetic X-rays resized to 224 px) → train (MobileNet v1
 * with its last two layers trainable, wasm engine on the CPU, so every batch holds the JS thread
 * for a while), and beside it a chain of short noop steps, each of whose completions is a
 * workflow task. While the train step runs, the bench sends the `pipelineProgress` query back to
 * back. Prints JSON per layout: query latency p50/p99/max (a query no worker answered in time
 * counts with its full wait) and failures; workflow task durations from the history
 * (WorkflowTaskStarted → Completed, and Scheduled → Completed: a worker whose JS thread is held
 * does not even poll, so the wait shows before Started) and timeouts; each worker process's event-loop delay
 * (how long its JS thread was held at a time) against the train step's heartbeat timeout.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import { z } from 'zod';
import { writeSyntheticDataset } from '../activities/data/synthetic.ts';
import { pipelineStartOptions } from '../client/pipelines/pipeline-start.ts';
import { startWorkerGroup, type WorkerLayout } from '../client/workers/worker-group.ts';
import { PIPELINE_PROGRESS_QUERY } from '../common/pipeline-progress.ts';
import type { ResolvedPipeline, ResolvedStep } from '../common/resolved-pipeline.ts';
import { testPipeline, testStep } from '../test/helpers/recording-steps.ts';
import { startTestServers, type TestServers } from '../test/helpers/servers.ts';
import { MOBILENET_V1_DIR } from '../test/helpers/shared-assets.ts';

const { values } = parseArgs({
  options: {
    layouts: { type: 'string', default: 'single,split' },
    epochs: { type: 'string', default: '2' },
    chain: { type: 'string', default: '12' },
    /** Keep the scratch folder (worker logs) and print its path. */
    keep: { type: 'boolean', default: false },
  },
});
const layouts = values.layouts.split(',').map((layout): WorkerLayout => {
  if (layout === 'single' || layout === 'split') return layout;
  throw new Error(`--layouts: expected single and/or split, got "${layout}"`);
});
const epochs = Number(values.epochs);
const chainLength = Number(values.chain);
const HEARTBEAT_TIMEOUT = '30s';
const HEARTBEAT_TIMEOUT_MS = 30_000;
const QUERY_DEADLINE_MS = 10_000;

function stats(samples: number[]): { n: number; p50: number; p99: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return { n: sorted.length, p50: Math.round(at(0.5)), p99: Math.round(at(0.99)), max: Math.round(sorted.at(-1) ?? Number.NaN) };
}

function pipeline(datasetDir: string): ResolvedPipeline {
  const train: ResolvedStep = testStep('train', 'train', {
    needs: ['subset'],
    timeout: '15m',
    heartbeatTimeout: HEARTBEAT_TIMEOUT,
    retry: { maximumAttempts: 1, initialInterval: '1s', backoffCoefficient: 2 },
    with: {
      mode: 'partial',
      trainManifest: '${{ steps.subset.outputs.trainManifest }}',
      valManifest: '${{ steps.subset.outputs.valManifest }}',
      model: {
        backbone: 'mobilenet_v1',
        weights: MOBILENET_V1_DIR,
        inputSize: 224,
        trainable: { lastN: 2 },
        head: [{ type: 'globalAveragePooling' }, { type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 2, activation: 'softmax' }],
      },
      optimizer: { name: 'adam', learningRate: 0.001 },
      batchSize: 8,
      epochs,
      seed: 9,
    },
  });
  // Short steps beside training: each completion is a workflow task that must not wait for a batch.
  const chain = Array.from({ length: chainLength }, (_, index) =>
    testStep(`tick-${index + 1}`, 'noop', {
      needs: index === 0 ? ['subset'] : [`tick-${index}`],
      with: { value: index, sleepMs: 1000 },
      heartbeatTimeout: '10s',
    }),
  );
  return testPipeline('bench-event-loop', [
    testStep('download', 'download', { with: { url: `file://${datasetDir}`, format: 'directory' }, heartbeatTimeout: '30s' }),
    testStep('subset', 'subset', {
      needs: ['download'],
      heartbeatTimeout: '30s',
      with: {
        datasetManifest: '${{ steps.download.outputs.datasetManifest }}',
        seed: 3,
        fractions: { train: 0.5, val: 0.25, test: 0.25 },
        testFrom: 'train',
        imageSize: 224,
        channels: 3,
      },
    }),
    train,
    ...chain,
  ]);
}

async function trainRunning(handle: WorkflowHandle): Promise<'waiting' | 'running' | 'done'> {
  const description = await handle.describe();
  if (description.status.name !== 'RUNNING') return 'done';
  const train = (description.raw.pendingActivities ?? []).find((activity) => activity.activityId === 'train');
  if (train?.state === proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED) return 'running';
  const history = (await handle.fetchHistory()).events ?? [];
  const trainScheduled = history.some((event) => event.activityTaskScheduledEventAttributes?.activityId === 'train');
  return trainScheduled && !train ? 'done' : 'waiting';
}

/** Sends the progress query back to back while the train step runs; latencies in ms. */
async function queryWhileTraining(handle: WorkflowHandle): Promise<{ latencies: number[]; failures: number; trainMs: number }> {
  for (;;) {
    const state = await trainRunning(handle);
    if (state === 'running') break;
    if (state === 'done') throw new Error('The train step finished before the bench saw it running');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const latencies: number[] = [];
  let failures = 0;
  const startedAt = Date.now();
  let lastCheck = 0;
  for (;;) {
    const sentAt = performance.now();
    try {
      await Promise.race([
        handle.query(PIPELINE_PROGRESS_QUERY),
        new Promise((_, reject) => setTimeout(() => reject(new Error('query deadline')), QUERY_DEADLINE_MS)),
      ]);
    } catch {
      failures += 1;
    }
    latencies.push(performance.now() - sentAt);
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (Date.now() - lastCheck > 1000) {
      lastCheck = Date.now();
      if ((await trainRunning(handle)) !== 'running') return { latencies, failures, trainMs: Date.now() - startedAt };
    }
  }
}

/** WorkflowTaskStarted → Completed durations (ms), and task timeouts/failures, from the history. */
async function workflowTasks(handle: WorkflowHandle): Promise<{ durations: number[]; sinceScheduled: number[]; timedOut: number; failed: number }> {
  const events = (await handle.fetchHistory()).events ?? [];
  const startedAt = new Map<string, number>();
  const scheduledAt = new Map<string, number>();
  const durations: number[] = [];
  const sinceScheduled: number[] = [];
  const millis = (time: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
    Number(time?.seconds ?? 0) * 1000 + (time?.nanos ?? 0) / 1e6;
  for (const event of events) {
    if (event.workflowTaskScheduledEventAttributes) scheduledAt.set(String(event.eventId), millis(event.eventTime));
    if (event.workflowTaskStartedEventAttributes) startedAt.set(String(event.eventId), millis(event.eventTime));
    const completed = event.workflowTaskCompletedEventAttributes;
    if (completed) {
      const started = startedAt.get(String(completed.startedEventId));
      const scheduled = scheduledAt.get(String(completed.scheduledEventId));
      if (started !== undefined) durations.push(millis(event.eventTime) - started);
      if (scheduled !== undefined) sinceScheduled.push(millis(event.eventTime) - scheduled);
    }
  }
  return {
    durations,
    sinceScheduled,
    timedOut: events.filter((event) => event.workflowTaskTimedOutEventAttributes).length,
    failed: events.filter((event) => event.workflowTaskFailedEventAttributes).length,
  };
}

/** Waits until every worker process of the group logged that it polls (so startup is not measured). */
async function workersStarted(logFile: string, count: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const text = await readFile(logFile, 'utf8').catch(() => '');
    if (text.split('\n').filter((line) => line.includes('"msg":"Worker started"')).length >= count) return;
    if (Date.now() > deadline) throw new Error(`Workers did not start within 120 s; see ${logFile}:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The event-loop delay each worker process logged when it stopped, by role. */
const StoppedLineSchema = z.object({ msg: z.literal('Worker stopped'), role: z.string(), eventLoopDelayMs: z.object({ p50: z.number(), p99: z.number(), max: z.number() }) });

async function eventLoopDelays(logFile: string): Promise<Record<string, { p50: number; p99: number; max: number }>> {
  const delays: Record<string, { p50: number; p99: number; max: number }> = {};
  for (const line of (await readFile(logFile, 'utf8')).split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = StoppedLineSchema.safeParse(JSON.parse(line));
    if (entry.success) delays[entry.data.role] = entry.data.eventLoopDelayMs;
  }
  return delays;
}

async function measure(layout: WorkerLayout, servers: TestServers, client: Client, datasetDir: string, scratch: string) {
  const prefix = `bench-${layout}-${randomUUID().slice(0, 6)}`;
  const logFile = join(scratch, `worker-${layout}.log`);
  const group = startWorkerGroup({
    layout,
    logFile,
    env: {
      TEMPORAL_ADDRESS: servers.temporalAddress,
      TEMPORAL_NAMESPACE: servers.namespace,
      MLP_TASK_QUEUE_PREFIX: prefix,
      MLP_WORKER_QUEUES: 'cpu',
      MLP_ENGINE: 'wasm',
      MLP_SCRATCH_DIR: join(scratch, layout),
      S3_ENDPOINT: servers.storage.endpoint,
      S3_REGION: servers.storage.region,
      S3_BUCKET: servers.storage.bucket,
      S3_ACCESS_KEY_ID: servers.storage.accessKeyId,
      S3_SECRET_ACCESS_KEY: servers.storage.secretAccessKey,
    },
  });
  try {
    await workersStarted(logFile, group.processes.length);
    const started = Date.now();
    const handle = await client.workflow.start('runPipeline', pipelineStartOptions(pipeline(datasetDir), { workflowId: `${prefix}-run`, taskQueuePrefix: prefix }));
    const queries = await queryWhileTraining(handle);
    await handle.result();
    const tasks = await workflowTasks(handle);
    group.kill('SIGTERM');
    await group.exited;
    const delays = await eventLoopDelays(logFile);
    const taskStats = stats(tasks.durations);
    const queryStats = stats(queries.latencies);
    return {
      layout,
      processes: group.processes.length,
      runSeconds: Math.round((Date.now() - started) / 100) / 10,
      trainSeconds: Math.round(queries.trainMs / 100) / 10,
      queryMs: { ...queryStats, failures: queries.failures, deadlineMs: QUERY_DEADLINE_MS },
      workflowTaskMs: { ...taskStats, over2s: tasks.durations.filter((ms) => ms > 2000).length, timedOut: tasks.timedOut, failed: tasks.failed },
      workflowTaskScheduledToCompletedMs: { ...stats(tasks.sinceScheduled), over2s: tasks.sinceScheduled.filter((ms) => ms > 2000).length },
      eventLoopDelayMs: delays,
      heartbeatTimeout: HEARTBEAT_TIMEOUT,
      target: {
        queryP99Under1s: queryStats.p99 < 1000 && queries.failures === 0,
        noWorkflowTaskOver2s: taskStats.max <= 2000 && stats(tasks.sinceScheduled).max <= 2000,
        // The longest hold of a JS thread that runs the train step, against its heartbeat timeout.
        trainHoldUnderHeartbeatTimeout: Object.values(delays).every((delay) => delay.max < HEARTBEAT_TIMEOUT_MS),
      },
    };
  } finally {
    group.kill('SIGKILL');
    await group.exited;
  }
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(os.tmpdir(), 'mlp-bench-event-loop-'));
  const servers = await startTestServers({ bucketPrefix: 'bench-event-loop' });
  const connection = await Connection.connect({ address: servers.temporalAddress });
  try {
    const datasetDir = await writeSyntheticDataset({ dir: scratch, seed: 'bench', counts: { train: { NORMAL: 16, PNEUMONIA: 16 } }, size: 128 });
    const client = new Client({ connection, namespace: servers.namespace });
    const results = [];
    for (const layout of layouts) results.push(await measure(layout, servers, client, datasetDir, scratch));
    process.stdout.write(
      `${JSON.stringify({ bench: 'event-loop', cpus: os.availableParallelism(), loadAverage1m: os.loadavg()[0], epochs, chainSteps: chainLength, results }, null, 2)}\n`,
    );
  } finally {
    await connection.close();
    await servers.stop();
    if (values.keep) process.stderr.write(`worker logs kept in ${scratch}\n`);
    else await rm(scratch, { recursive: true, force: true });
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause === undefined ? `${error.name}: ${error.message}` : `${error.name}: ${error.message}\n  caused by ${describeError(error.cause)}`;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${describeError(error)}\n`);
  process.exit(1);
});
