import { CommanderError, type Command } from 'commander';
import { versionText } from '../code-version.ts';
import { printResult } from '../output.ts';

/**
 * `mlp --version` (`-V`): the package version and the code version a worker started from this
 * checkout records in model lineage. Not commander's `.version(text)`: that needs the text up
 * front, and computing it runs git, which every other command would then pay for.
 */
export function register(program: Command): void {
  program.option('-V, --version', 'print the package version and the code version (git commit) recorded in model lineage').on('option:version', () => {
    printResult({}, undefined, () => versionText());
    // How commander itself ends after printing its version: exit code 0, no further parsing.
    throw new CommanderError(0, 'commander.version', 'version printed');
  });
}
