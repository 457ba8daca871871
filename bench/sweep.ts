/**
 * Wall time of the 6-trial tiny sweep (test/fixtures/faults/tiny-sweep.yaml: 3 learning rates ×
 * 2 head sizes, 3 at once) against the same 6 trials one after another (maxParallel 1: what 6
 * sequential runs of the train step cost, their download and subset from the cache), on the real
 * dev server, S3 server and an `mlp worker` process pair, wasm engine. Each configuration runs
 * with the train step refreshed, so no trial comes from the cache. Prints JSON.
 *   npx tsx bench/sweep.ts [--order parallel,sequential] [--workers 3]
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { writeSyntheticDataset, zipFolder } from '../activities/data/synthetic.ts';
import { loadPipelineFile } from '../client/pipelines/pipeline-file.ts';
import { submitPipeline } from '../client/pipelines/pipeline-submit.ts';
import type { ResolvedPipeline } from '../common/resolved-pipeline.ts';
import { startCliWorker } from '../test/helpers/cli-worker.ts';
import { startTestServers } from '../test/helpers/servers.ts';

const { values } = parseArgs({ options: { order: { type: 'string', default: 'parallel,sequential' }, workers: { type: 'string', default: '1' } } });
const workerCount = Math.max(1, Number(values.workers));
const order = (values.order ?? '').split(',').filter((name) => name === 'parallel' || name === 'sequential');

const servers = await startTestServers({ bucketPrefix: 'bench-sweep' });
const prefix = `bench-sweep-${randomUUID().slice(0, 8)}`;
// Several `mlp worker` process pairs on one queue: trials spread over their event loops.
const workers = Array.from({ length: workerCount }, (_, index) => startCliWorker(servers, { prefix: prefix, env: { MLP_ENGINE: 'wasm', MLP_SCRATCH_DIR: join(servers.dir, `scratch-${index}`) } }));
const connection = await Connection.connect({ address: servers.temporalAddress });
try {
  const client = new Client({ connection, namespace: servers.namespace });
  const data = join(servers.dir, 'synthetic');
  await writeSyntheticDataset({ dir: data, seed: 5, size: 32, counts: { train: { NORMAL: 16, PNEUMONIA: 16 }, test: { NORMAL: 6, PNEUMONIA: 6 } } });
  const zip = join(servers.dir, 'tiny.zip');
  await zipFolder(data, zip);
  const { resolved } = await loadPipelineFile('test/fixtures/faults/tiny-sweep.yaml', [`dataset=file://${zip}`]);
  const withParallel = (maxParallel: number): ResolvedPipeline => ({
    ...resolved,
    steps: resolved.steps.map((step) => (step.sweep === undefined ? step : { ...step, sweep: { ...step.sweep, maxParallel } })),
  });
  const run = async (spec: ResolvedPipeline, refresh: string[]): Promise<number> => {
    const started = Date.now();
    const { handle } = await submitPipeline(client, spec, { runKey: randomUUID().slice(0, 8), taskQueuePrefix: prefix, refresh });
    await handle.result();
    return (Date.now() - started) / 1000;
  };
  // Warm-up: download, subset, backbone features and the worker's wasm compile, off the clock.
  const warmUp = await run(withParallel(3), []);
  const seconds: Record<string, number> = {};
  for (const name of order) seconds[name] = await run(withParallel(name === 'parallel' ? 3 : 1), ['train']);
  console.log(
    JSON.stringify({
      bench: 'sweep',
      trials: 6,
      workerProcesses: workerCount,
      cpus: availableParallelism(),
      warmUpSeconds: warmUp,
      parallelSeconds: seconds['parallel'],
      sequentialSeconds: seconds['sequential'],
      speedup: seconds['parallel'] && seconds['sequential'] ? Number((seconds['sequential'] / seconds['parallel']).toFixed(2)) : undefined,
      note: `parallel: maxParallel 3 over ${workerCount} worker process pair(s); sequential: maxParallel 1 (6 runs one after another, download and subset cached)`,
    }),
  );
} finally {
  await connection.close();
  for (const worker of workers) await worker.stop();
  await servers.stop();
}
