import type { Command } from 'commander';
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
      printResult(flags, { valid: true, file, name: resolved.name, specHash: resolved.specHash, steps: resolved.steps.length }, () =>
        `${file}: valid (${resolved.steps.length} steps, spec ${resolved.specHash.slice(0, 12)})`,
      );
    });
}
