import type { Command } from 'commander';
import { capacityWarnings, estimateRunHistory } from '../../common/pipeline-spec/capacity.ts';
import { printResult } from '../output.ts';
import { loadOrReport, withPipelineFileOptions, type PipelineFileFlags } from './pipeline-options.ts';

/** `mlp validate <file>`: checks a pipeline file and prints each problem as file:line:col. */
export function register(program: Command): void {
  withPipelineFileOptions(program.command('validate <file>'))
    .description('Validate a pipeline file: schema, step kinds, needs, cycles, references, input types')
    .action(async (file: string, flags: PipelineFileFlags) => {
      const loaded = await loadOrReport(file, flags);
      if (loaded === undefined) return;
      const { resolved } = loaded;
      // Runs past the server's warning thresholds still run: told, not refused.
      const warnings = capacityWarnings(estimateRunHistory(resolved));
      printResult(flags, { valid: true, file, name: resolved.name, specHash: resolved.specHash, steps: resolved.steps.length, warnings }, () =>
        [`${file}: valid (${resolved.steps.length} steps, spec ${resolved.specHash.slice(0, 12)})`, ...warnings.map((warning) => `warning: ${warning}`)].join('\n'),
      );
    });
}
