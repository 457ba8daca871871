import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { reportHelperWorkflowFailure } from '../runs/failure.ts';
import { openFile } from '../results/open-file.ts';
import { info, printResult } from '../output.ts';
import { loadRunReport } from '../results/run-report.ts';
import { renderRunReport } from '../results/run-report-html.ts';

interface ReportFlags extends ConnectionFlags {
  runId?: string;
  output?: string;
  open?: boolean;
  json?: boolean;
}

/** `mlp report <run> [-o report.html] [--open]`: one self-contained HTML file about a run. */
export function register(program: Command): void {
  withConnectionOptions(program.command('report <workflowId>'))
    .description('Write one self-contained HTML file about a run: status, params, steps, evaluation reports with their plots, sweep trials, registry version, lineage')
    .option('-o, --output <file>', 'where to write it (default: report-<workflowId>.html)')
    .option('--open', 'open it in the default browser')
    .option('--run-id <id>', 'a specific run of the workflow id (default: the latest)')
    .option('--json', 'print what the report shows as JSON (the HTML file is written too)')
    .action(async (workflowId: string, flags: ReportFlags) => {
      const { client, config, close } = await connectClient(flags);
      try {
        const loaded = await loadRunReport(client, config, workflowId, flags.runId);
        const file = resolve(flags.output ?? `report-${workflowId}.html`);
        await writeFile(file, renderRunReport(loaded));
        if (loaded.report.inProgress) info(`run ${workflowId} is still running: the report shows what exists so far`);
        printResult(flags, { file, ...loaded.report }, () => file);
        if (flags.open) openFile(file);
      } catch (error) {
        reportHelperWorkflowFailure(error);
      } finally {
        await close();
      }
    });
}
