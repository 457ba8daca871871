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

/** Prints an error for a person (message only, no stack) and sets exit code 1. */
export function reportCliError(error: unknown): void {
  const message = error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
  process.stderr.write(`error: ${message}\n`);
  process.exitCode = 1;
}
