import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { GC_CLASSES, STORAGE_GC_WORKFLOW, StorageGcReportSchema, stringsIn, type GcClass, type KeptRun, type StorageGcReport } from '../../common/storage-gc.ts';
import { workflowTaskQueue } from '../../common/task-queues.ts';
import { duration, positiveInteger } from '../cli-options.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { reportHelperWorkflowFailure } from '../runs/failure.ts';
import { printResult } from '../output.ts';
import { warnWhenNoWorker } from '../runs/task-queue-pollers.ts';
import { progressFromHistory } from '../runs/run-history.ts';
import { listRuns, type RunSummary } from '../runs/run-list.ts';

interface GcFlags extends ConnectionFlags {
  keepRuns: number;
  apply?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  grace: string;
  json?: boolean;
}

/** Every run still going is kept, however old: its steps may still read what they wrote. */
const MAX_RUNNING_RUNS = 10_000;

/**
 * The runs whose references stay: the newest `keep` runs plus every running one, each with the
 * cache keys its steps computed and the strings among its outputs. A run whose history cannot be
 * read fails the command: deleting without knowing what it refers to is not safe.
 */
export async function keptRuns(client: Client, keep: number): Promise<KeptRun[]> {
  const newest = await listRuns(client, {}, keep);
  const running = await listRuns(client, { status: 'running' }, MAX_RUNNING_RUNS);
  const runs = new Map<string, RunSummary>();
  for (const run of [...newest, ...running]) runs.set(`${run.workflowId}/${run.runId}`, run);
  return Promise.all(
    [...runs.values()].map(async (run): Promise<KeptRun> => {
      const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      const view = progressFromHistory(history, run.workflowId);
      return {
        workflowId: run.workflowId,
        cacheKeys: view.steps.flatMap((step) => (step.cacheKey === undefined ? [] : [step.cacheKey])),
        outputStrings: [...stringsIn(view.steps.map((step) => step.outputs ?? {}))],
      };
    }),
  );
}

const CLASS_NAMES: Record<GcClass, string> = { cacheEntries: 'cache entries', shards: 'preprocessed shards', features: 'backbone features' };

/** Bytes for people: 1.5 MB, 320 kB, 12 B (powers of 1000, as S3 consoles show them). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function formatGcReport(report: StorageGcReport): string {
  const objects = GC_CLASSES.reduce((sum, kind) => sum + report.removed[kind].count, 0);
  const lines = [
    report.applied
      ? `removed ${objects} objects, ${formatBytes(report.totalBytes)}`
      : `dry run: would remove ${objects} objects, ${formatBytes(report.totalBytes)} (run with --apply to delete them)`,
  ];
  for (const kind of GC_CLASSES) {
    const part = report.removed[kind];
    lines.push(`  ${CLASS_NAMES[kind].padEnd(20)} ${String(part.count).padStart(6)}  ${formatBytes(part.bytes).padStart(9)}   kept ${part.kept}`);
  }
  lines.push(`kept the references of ${report.keptRuns.length} runs (${report.registryRuns.length} of them published a registered model)`);
  for (const kind of GC_CLASSES) {
    const part = report.removed[kind];
    for (const key of part.keys) lines.push(`  ${key}`);
    if (part.count > part.keys.length) lines.push(`  … and ${part.count - part.keys.length} more ${CLASS_NAMES[kind]}`);
  }
  return lines.join('\n');
}

/** `mlp gc`: removes cache entries, shards and features no recent run or registered model refers to. */
export function register(program: Command): void {
  withConnectionOptions(program.command('gc'))
    .description('Remove step-cache entries, preprocessed shards and backbone features not referenced by the last N runs or the model registry (dry run unless --apply)')
    .option('--keep-runs <n>', 'keep what the newest n runs refer to (running runs are always kept)', positiveInteger, 10)
    .option('--apply', 'delete (default: only report what would be deleted)')
    .option('--yes', 'same as --apply')
    .option('--dry-run', 'only report (the default; overrides --apply)')
    .option('--grace <duration>', 'never delete objects written less than this long ago', duration, '1h')
    .option('--json', 'print the report as JSON')
    .action(async (flags: GcFlags) => {
      const apply = (flags.apply === true || flags.yes === true) && flags.dryRun !== true;
      const { client, config, close } = await connectClient(flags);
      try {
        const runs = await keptRuns(client, flags.keepRuns);
        await warnWhenNoWorker(client, workflowTaskQueue(config.taskQueuePrefix));
        const result: unknown = await client.workflow.execute(STORAGE_GC_WORKFLOW, {
          taskQueue: workflowTaskQueue(config.taskQueuePrefix),
          workflowId: `gc-${randomUUID().slice(0, 8)}`,
          args: [{ keptRuns: runs, apply, grace: flags.grace }],
        });
        const report = StorageGcReportSchema.parse(result);
        printResult(flags, report, () => formatGcReport(report));
      } catch (error) {
        reportHelperWorkflowFailure(error);
      } finally {
        await close();
      }
    });
}
