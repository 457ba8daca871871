import { Option, type Command } from 'commander';
import { positiveInteger } from '../cli-options.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { printResult } from '../output.ts';
import { listRuns, RUN_STATUS_FILTERS, type RunStatusFilter, type RunSummary } from '../runs/run-list.ts';

interface ListFlags extends ConnectionFlags {
  pipeline?: string;
  status?: RunStatusFilter;
  schedule?: string;
  limit: number;
  json?: boolean;
}

function formatRuns(runs: RunSummary[]): string {
  if (runs.length === 0) return 'no runs';
  const width = Math.max(...runs.map((run) => run.workflowId.length));
  return runs
    .map((run) =>
      [
        run.workflowId.padEnd(width),
        run.status.padEnd(10),
        run.startTime,
        run.datasetHash === undefined ? '' : `dataset ${run.datasetHash.slice(0, 12)}`,
        run.modelVersion === undefined ? '' : `model ${run.modelVersion}`,
        run.scheduledBy === undefined ? '' : `schedule ${run.scheduledBy}`,
      ]
        .filter((part) => part !== '')
        .join('  '),
    )
    .join('\n');
}

/** `mlp list`: pipeline runs from Temporal visibility, newest first. */
export function register(program: Command): void {
  withConnectionOptions(program.command('list'))
    .description('List pipeline runs (Temporal visibility), newest first')
    .option('--pipeline <name>', 'only runs of this pipeline (search attribute PipelineName)')
    .addOption(new Option('--status <status>', 'only runs in this state (ExecutionStatus)').choices(Object.keys(RUN_STATUS_FILTERS)))
    .option('--schedule <id>', 'only runs started by this schedule')
    .option('--limit <n>', 'at most this many runs', positiveInteger, 20)
    .option('--json', 'print the runs as JSON')
    .action(async (flags: ListFlags) => {
      const { client, close } = await connectClient(flags);
      try {
        const runs = await listRuns(
          client,
          {
            ...(flags.pipeline === undefined ? {} : { pipeline: flags.pipeline }),
            ...(flags.status === undefined ? {} : { status: flags.status }),
            ...(flags.schedule === undefined ? {} : { schedule: flags.schedule }),
          },
          flags.limit,
        );
        printResult(flags, runs, () => formatRuns(runs));
      } finally {
        await close();
      }
    });
}
