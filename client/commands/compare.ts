import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { PipelineError } from '../../common/errors.ts';
import { positiveInteger } from '../cli-options.ts';
import { workflowUiUrl } from '../config.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { reportHelperWorkflowFailure } from '../runs/failure.ts';
import { printResult } from '../output.ts';
import { compareRuns, loadRunCurves, loadRuns } from '../results/run-compare.ts';
import { formatComparison, renderComparison } from '../results/run-compare-format.ts';
import { listRuns } from '../runs/run-list.ts';

interface CompareFlags extends ConnectionFlags {
  last?: number;
  pipeline?: string;
  output?: string;
  json?: boolean;
}

/** `mlp compare <run> <run> [...]` or `mlp compare --last N --pipeline P`. */
export function register(program: Command): void {
  withConnectionOptions(program.command('compare [workflowIds...]'))
    .description('Compare runs: params that differ, metrics side by side with the difference from the first run; -o writes an HTML page with training and ROC curves overlaid')
    .option('--last <n>', 'the newest n runs of --pipeline (newest first, as mlp list shows them)', positiveInteger)
    .option('--pipeline <name>', 'with --last: the pipeline whose runs to compare')
    .option('-o, --output <file>', 'also write a self-contained HTML page (e.g. compare.html)')
    .option('--json', 'print the comparison as JSON')
    .action(async (given: string[], flags: CompareFlags, command: Command) => {
      // Usage errors: printed by commander, exit code 2 (client/output.ts).
      const usage = (message: string): never => command.error(`error: ${message}`, { exitCode: 2 });
      if (flags.last !== undefined && given.length > 0) usage('give run ids or --last, not both');
      if (flags.last !== undefined && flags.pipeline === undefined) usage('--last needs --pipeline');
      if (flags.last === undefined && given.length < 2) usage('give at least two run ids, or --last <n> --pipeline <name>');
      const { client, config, close } = await connectClient(flags);
      try {
        const workflowIds = flags.last === undefined ? given : (await listRuns(client, { pipeline: flags.pipeline ?? '' }, flags.last)).map((run) => run.workflowId);
        if (workflowIds.length < 2) throw new PipelineError(`Comparing failed: pipeline ${flags.pipeline ?? ''} has ${workflowIds.length} run(s): nothing to compare`);
        const runs = await loadRuns(client, workflowIds);
        const comparison = compareRuns(runs);
        let file: string | undefined;
        if (flags.output !== undefined) {
          file = resolve(flags.output);
          const curves = await loadRunCurves(client, config, runs);
          await writeFile(file, renderComparison(comparison, curves, (workflowId, runId) => workflowUiUrl(config, workflowId, runId)));
        }
        printResult(flags, { ...comparison, ...(file === undefined ? {} : { file }) }, () => formatComparison(comparison) + (file === undefined ? '' : `\n\nwrote ${file}`));
      } catch (error) {
        reportHelperWorkflowFailure(error);
      } finally {
        await close();
      }
    });
}
