import { CommanderError } from 'commander';

/**
 * The CLI's output layer: the only place that writes to the console. Commands return data and
 * call `printResult`, which prints JSON with `--json` and a human-readable form otherwise.
 */

export interface OutputOptions {
  json?: boolean;
}

export function printResult(options: OutputOptions, data: unknown, human: () => string): void {
  if (options.json) {
    process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  } else {
    process.stdout.write(`${human()}\n`);
  }
}

export function info(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Exit codes: 0 ok, 1 the operation failed (or its subject is invalid), 2 the command line is wrong. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * Prints an error for a person (message only, no stack) and sets exit code 1; a command-line
 * error (commander has printed it already) sets 2, and help or version output 0.
 */
export function reportCliError(error: unknown): void {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
    return;
  }
  const message = error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
  process.stderr.write(`error: ${message}\n`);
  process.exitCode = EXIT_FAILURE;
}
