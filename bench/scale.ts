/**
 * Pipelines at scale (issue 30): noop steps as a wide fan-out (a root and N steps needing only
 * it) and as a foreach over N items an upstream step outputs, on the real Temporal dev server and
 * `mlp worker` processes (a workflows process and an activities process).
 *
 *   npm run bench:scale [-- --sizes 100,1000,10000]
 *
 * Prints JSON: per shape and size, steps (or items) per second end to end, the run's own history
 * (events, bytes, per step) and the history of the whole run including its child workflows, the
 * most work pending at once; and the workflows worker's peak resident memory (VmHWM). A size
 * `mlp validate` refuses (a wide fan-out of 10,000 steps is over the server's 2 MB input limit)
 * is reported with the message instead.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { loadPipelineText } from '../client/pipelines/pipeline-file.ts';
import { pipelineStartOptions } from '../client/pipelines/pipeline-start.ts';
import { PipelineValidationError } from '../common/errors.ts';
import { estimateRunHistory } from '../common/pipeline-spec/capacity.ts';
import { startCliWorker } from '../test/helpers/cli-worker.ts';
import { foreachYaml, historyStats, wideDagYaml } from '../test/helpers/scale-pipelines.ts';
import { startTestServers } from '../test/helpers/servers.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '100,1000,10000' } } });
const sizes = values.sizes.split(',').map(Number);

/** Peak and current resident memory of a process in MiB, from /proc (Linux). */
function memoryMiB(pid: number | undefined): { peak: number; current: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { peak: Math.round(kib('VmHWM') / 1024), current: Math.round(kib('VmRSS') / 1024) };
  } catch {
    return undefined;
  }
}

const round = (value: number): number => Math.round(value * 10) / 10;
/** Per-step figures of the run's own history are far below one event: two decimals. */
const round2 = (value: number): number => Math.round(value * 100) / 100;

const servers = await startTestServers({ bucketPrefix: 'bench-scale' });
const prefix = `bench-scale-${randomUUID().slice(0, 8)}`;
const cli = startCliWorker(servers, { prefix });
const connection = await Connection.connect({ address: servers.temporalAddress });
const client = new Client({ connection, namespace: servers.namespace });
const workflowsPid = cli.worker.processes[0]?.pid;

/** Events and bytes of a run and of every child workflow it started. */
async function wholeRun(handle: WorkflowHandle): Promise<{ own: ReturnType<typeof historyStats>; total: { events: number; bytes: number; workflows: number } }> {
  const history = await handle.fetchHistory();
  const own = historyStats(history);
  const total = { events: own.events, bytes: own.bytes, workflows: 1 };
  const children = (history.events ?? []).flatMap((event) => event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? []);
  for (const id of children) {
    const child = historyStats(await client.workflow.getHandle(id).fetchHistory());
    total.events += child.events;
    total.bytes += child.bytes;
    total.workflows += 1;
  }
  return { own, total };
}

async function measure(shape: 'wide' | 'foreach', size: number): Promise<Record<string, unknown>> {
  const name = `bench-${shape}-${size}`;
  const yaml = shape === 'wide' ? wideDagYaml(name, size) : foreachYaml(name, size);
  let spec;
  try {
    spec = loadPipelineText(yaml, `${name}.yaml`).resolved;
  } catch (error) {
    if (error instanceof PipelineValidationError) return { refusedByValidate: error.problems.map((problem) => problem.message) };
    throw error;
  }
  const started = performance.now();
  const handle = await client.workflow.start('runPipeline', pipelineStartOptions(spec, { workflowId: `${name}-${randomUUID().slice(0, 8)}`, taskQueuePrefix: prefix }));
  await handle.result();
  const seconds = (performance.now() - started) / 1000;
  const { own, total } = await wholeRun(handle);
  return {
    seconds: round(seconds),
    perSecond: round(size / seconds),
    run: { events: own.events, bytes: own.bytes, eventsPerStep: round2(own.events / size), bytesPerStep: Math.round(own.bytes / size), peakPending: own.peakPending, childWorkflows: own.childWorkflows },
    estimate: estimateRunHistory(spec).events,
    withChildren: { ...total, eventsPerStep: round2(total.events / size), bytesPerStep: Math.round(total.bytes / size) },
  };
}

try {
  const loadBefore = os.loadavg()[0] ?? 0;
  const memoryBefore = memoryMiB(workflowsPid);
  const results: Record<string, Record<string, unknown>> = { wide: {}, foreach: {} };
  for (const size of sizes) {
    for (const shape of ['wide', 'foreach'] as const) {
      const result = await measure(shape, size);
      (results[shape] ??= {})[String(size)] = result;
      console.error(`${shape} ${size}: ${JSON.stringify(result)}`);
    }
  }
  console.log(
    JSON.stringify(
      {
        benchmark: 'scale',
        stepKind: 'noop',
        ...results,
        workflowsWorkerMemoryMiB: { before: memoryBefore, after: memoryMiB(workflowsPid) },
        workersAlive: cli.worker.processes.every((child) => child.exitCode === null && child.signalCode === null),
        environment: {
          node: process.version,
          cpus: os.cpus().length,
          loadAverage1m: { before: round(loadBefore), after: round(os.loadavg()[0] ?? 0) },
          server: 'temporal server start-dev (test harness)',
          worker: 'mlp worker processes (split layout), default options',
        },
      },
      null,
      2,
    ),
  );
} finally {
  await cli.stop();
  await connection.close();
  await servers.stop();
}
