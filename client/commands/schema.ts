import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { pipelineJsonSchema } from '../../common/pipeline-spec/index.ts';
import { info, printResult } from '../output.ts';

/** The JSON Schema file's exact text (the staleness test compares against it). */
export function pipelineJsonSchemaText(): string {
  return `${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`;
}

/** `mlp schema [--write file]`: the pipeline JSON Schema, generated from the zod source. */
export function register(program: Command): void {
  program
    .command('schema')
    .description('Print the JSON Schema of pipeline files (generated from the validation schema)')
    .option('--write <file>', 'write it to a file instead, e.g. pipelines/pipeline.schema.json')
    .action(async (flags: { write?: string }) => {
      const text = pipelineJsonSchemaText();
      if (flags.write === undefined) {
        printResult({}, undefined, () => text.trimEnd());
        return;
      }
      await writeFile(flags.write, text);
      info(`wrote ${flags.write}`);
    });
}
