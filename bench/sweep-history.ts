/**
 * History size of the largest sweep a step may hold (64 trials, each a `runSweepTrial` child
 * workflow), on the real dev server with the noop step: events and compact JSON bytes of the
 * pipeline's history and of one trial's, and the wall time. Prints JSON.
 *   npx tsx bench/sweep-history.ts [--trials 64]
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { ObjectStore } from '../activities/object-store.ts';
import { createNoopActivity } from '../activities/steps/noop.ts';
import { createStepCacheActivities } from '../activities/step-cache.ts';
import { loadPipelineText } from '../client/pipelines/pipeline-file.ts';
import { pipelineStartOptions } from '../client/pipelines/pipeline-start.ts';
import { resolveTemporalBinary } from '../client/servers/binaries.ts';
import { startPipelineWorkers } from '../test/helpers/pipeline-workers.ts';
import { startTestServers } from '../test/helpers/servers.ts';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '64' } } });
const trials = Number(values.trials);
const text = [
  'apiVersion: mlp/v1',
  'name: sweep-history-bench',
  'steps:',
  '  - id: sweep',
  '    uses: noop',
  '    cache: true',
  '    matrix:',
  `      score: [${Array.from({ length: trials }, (_, index) => index).join(', ')}]`,
  '    maxParallel: 16',
  '    select: { metric: value, goal: max }',
  '    with:',
  '      value: ${{ matrix.score }}',
].join('\n');
const { resolved } = loadPipelineText(text, 'sweep-history-bench.yaml');

const temporal = await resolveTemporalBinary();
const servers = await startTestServers({ bucketPrefix: 'bench-sweep-history' });
try {
  const deps = { store: new ObjectStore(servers.storage), scratchDir: servers.dir };
  const workers = await startPipelineWorkers({
    temporalAddress: servers.temporalAddress,
    namespace: servers.namespace,
    prefix: 'bench-sweep-history',
    activities: { ...createNoopActivity(deps), ...createStepCacheActivities(deps) },
  });
  try {
    const start = pipelineStartOptions(resolved, { workflowId: `sweep-history-${randomUUID().slice(0, 8)}`, taskQueuePrefix: workers.taskQueuePrefix });
    const started = Date.now();
    const handle = await workers.client.workflow.start('runPipeline', start);
    await handle.result();
    const seconds = (Date.now() - started) / 1000;
    const show = (id: string) => JSON.parse(execFileSync(temporal.path, ['workflow', 'show', '-w', id, '--address', servers.temporalAddress, '--output', 'json'], { maxBuffer: 256 * 1024 * 1024 }).toString()) as { events: unknown[] };
    const parent = show(handle.workflowId);
    const child = show(`${handle.workflowId}/sweep#0`);
    console.log(
      JSON.stringify({
        bench: 'sweep-history',
        trials,
        seconds,
        parentEvents: parent.events.length,
        parentBytes: JSON.stringify(parent).length,
        trialEvents: child.events.length,
        trialBytes: JSON.stringify(child).length,
      }),
    );
  } finally {
    await workers.stop();
  }
} finally {
  await servers.stop();
}
