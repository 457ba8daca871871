/**
 * Orchestration overhead of `runPipeline`: a 6-step chain of no-op steps, run 20 times on the
 * real Temporal dev server (started by the test harness) with an in-process worker.
 *
 *   npm run bench:orchestration [-- --runs 20 --steps 6]
 *
 * Prints JSON: end-to-end times of the chain (start → result, client side), the same for an
 * empty pipeline (the fixed cost of starting and finishing a run), and per-step overhead two
 * ways: median end-to-end / steps, and (median chain − median empty) / steps. On a shared, busy
 * machine latency mostly measures waiting for a CPU, so it also prints the CPU time each step
 * costs the worker process and the Temporal server (marginal over the empty pipeline), which
 * does not depend on how busy the machine is.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createNoopActivity } from '../activities/steps/noop.ts';
import { ObjectStore } from '../activities/object-store.ts';
import { createStepCacheActivities } from '../activities/step-cache.ts';
import { pipelineStartOptions } from '../client/pipelines/pipeline-start.ts';
import type { ResolvedPipeline } from '../common/resolved-pipeline.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../test/helpers/pipeline-workers.ts';
import { testPipeline, testStep } from '../test/helpers/recording-steps.ts';
import { startTestServers } from '../test/helpers/servers.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    steps: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '3' },
  },
});
const runs = Number(values.runs);
const stepCount = Number(values.steps);
const warmup = Number(values.warmup);

function chain(steps: number): ResolvedPipeline {
  return testPipeline(
    `bench-chain-${steps}`,
    Array.from({ length: steps }, (_, index) =>
      testStep(`step-${index + 1}`, 'noop', {
        needs: index === 0 ? [] : [`step-${index}`],
        with: { value: index === 0 ? 0 : `\${{ steps.step-${index}.outputs.value }}` },
        heartbeatTimeout: undefined,
      }),
    ),
  );
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const median = sorted.length % 2 === 1 ? at(0.5) : ((sorted[sorted.length / 2 - 1] ?? 0) + (sorted[sorted.length / 2] ?? 0)) / 2;
  const round = (value: number): number => Math.round(value * 10) / 10;
  return { runs: sorted.length, medianMs: round(median), p90Ms: round(at(0.9)), minMs: round(at(0)), maxMs: round(at(1)) };
}

/** Linux USER_HZ: /proc reports CPU time in ticks of 10 ms on every mainstream architecture. */
const TICKS_PER_SECOND = 100;

/** User + system CPU milliseconds a process has used so far, from /proc (undefined elsewhere). */
function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "pid (comm) ": state is index 0, utime index 11, stime index 12.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

interface Measured {
  samples: number[];
  workerCpuMs: number;
  serverCpuMs: number | undefined;
}

async function measure(workers: PipelineWorkers, spec: ResolvedPipeline, count: number, serverPid: number): Promise<Measured> {
  const [worker0, server0] = [ownCpuMs(), processCpuMs(serverPid)];
  const samples = await timeRuns(workers, spec, count);
  const server1 = processCpuMs(serverPid);
  return {
    samples,
    workerCpuMs: ownCpuMs() - worker0,
    serverCpuMs: server0 === undefined || server1 === undefined ? undefined : server1 - server0,
  };
}

async function timeRuns(workers: PipelineWorkers, spec: ResolvedPipeline, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let run = 0; run < count; run += 1) {
    const workflowId = `${spec.name}-${randomUUID().slice(0, 8)}`;
    const started = performance.now();
    const handle = await workers.client.workflow.start('runPipeline', pipelineStartOptions(spec, { workflowId, taskQueuePrefix: workers.taskQueuePrefix }));
    await handle.result();
    samples.push(performance.now() - started);
  }
  return samples;
}

// Only warnings: per-step info logs would be part of what is measured and drown the JSON.
Runtime.install({ logger: new DefaultLogger('WARN') });
const servers = await startTestServers({ bucketPrefix: 'bench' });
try {
  const deps = { store: new ObjectStore(servers.storage), scratchDir: servers.dir };
  const workers = await startPipelineWorkers({
    temporalAddress: servers.temporalAddress,
    namespace: servers.namespace,
    prefix: 'bench',
    activities: { ...createNoopActivity(deps), ...createStepCacheActivities(deps) },
  });
  try {
    const loadBefore = os.loadavg()[0];
    const spec = chain(stepCount);
    const empty = chain(0);
    await timeRuns(workers, spec, warmup);
    const chainRuns = await measure(workers, spec, runs, servers.pids.temporal);
    const emptyRuns = await measure(workers, empty, runs, servers.pids.temporal);
    const chainSummary = summary(chainRuns.samples);
    const emptySummary = summary(emptyRuns.samples);
    const round = (value: number): number => Math.round(value * 10) / 10;
    const marginalCpu = (chain: number | undefined, none: number | undefined): number | null =>
      chain === undefined || none === undefined ? null : round((chain - none) / runs / stepCount);
    console.log(
      JSON.stringify(
        {
          benchmark: 'orchestration',
          steps: stepCount,
          chain: chainSummary,
          emptyPipeline: emptySummary,
          perStepMs: {
            medianEndToEndOverSteps: round(chainSummary.medianMs / stepCount),
            medianMarginal: round((chainSummary.medianMs - emptySummary.medianMs) / stepCount),
          },
          cpuPerStepMs: {
            workerAndClientProcess: marginalCpu(chainRuns.workerCpuMs, emptyRuns.workerCpuMs),
            temporalServer: marginalCpu(chainRuns.serverCpuMs, emptyRuns.serverCpuMs),
          },
          targetPerStepMs: 50,
          environment: {
            node: process.version,
            cpus: os.cpus().length,
            // Other processes competing for the CPU slow every workflow and activity task.
            loadAverage1m: { before: round(loadBefore ?? 0), after: round(os.loadavg()[0] ?? 0) },
            server: 'temporal server start-dev (test harness)',
            worker: 'in-process, default options',
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await workers.stop();
  }
} finally {
  await servers.stop();
}
