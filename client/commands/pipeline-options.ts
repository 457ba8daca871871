import type { Command } from 'commander';
import { PipelineValidationError } from '../../common/errors.ts';
import { info, printResult } from '../output.ts';
import { loadPipelineFile, type LoadedPipeline } from '../pipelines/pipeline-file.ts';

/** Options every command that reads a pipeline file shares. */
export interface PipelineFileFlags {
  set: string[];
  json?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds `--set name=value` (repeatable) and `--json`. */
export function withPipelineFileOptions(command: Command): Command {
  return command
    .option('--set <name=value>', 'override a param (repeatable); the value is coerced to the param type', collect, [])
    .option('--json', 'print the result as JSON');
}

/**
 * Loads a pipeline file; on validation problems prints them (one `file:line:col: message` per
 * line, or `{ valid: false, problems }` with --json), sets exit code 1 and returns undefined.
 */
export async function loadOrReport(file: string, flags: PipelineFileFlags): Promise<LoadedPipeline | undefined> {
  try {
    return await loadPipelineFile(file, flags.set);
  } catch (error) {
    if (!(error instanceof PipelineValidationError)) throw error;
    if (flags.json) printResult(flags, { valid: false, file, problems: error.problems }, () => error.message);
    else info(error.message);
    process.exitCode = 1;
    return undefined;
  }
}
