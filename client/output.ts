import { EXIT_FAILURE, EXIT_USAGE, cliErrorOutcome } from '../common/cli-exit.ts';

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
export { EXIT_FAILURE, EXIT_USAGE };

/**
 * Prints an error for a person (message only, no stack) and sets exit code 1; a command-line
 * error (commander has printed it already) sets 2, and help or version output 0.
 */
export function reportCliError(error: unknown): void {
  const outcome = cliErrorOutcome(error);
  if (outcome.message !== undefined) process.stderr.write(`${outcome.message}\n`);
  process.exitCode = outcome.exitCode;
}
