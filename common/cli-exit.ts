/**
 * Exit codes and error outcomes shared by the project's command-line programs (`mlp` in client/,
 * `npm run synth` in bench/), so every program ends the same way. Pure: callers write.
 */

/** The command ran and failed (a run failed, a check did not pass, an operation was refused). */
export const EXIT_FAILURE = 1;
/** The command line itself was wrong (unknown flag, bad value): commander has said why. */
export const EXIT_USAGE = 2;

/** How a program ends after `error`: its exit code and, unless commander printed it, one line for stderr. */
export function cliErrorOutcome(error: unknown): { exitCode: number; message?: string } {
  if (isCommanderError(error)) return { exitCode: error.exitCode === 0 ? 0 : EXIT_USAGE };
  const message = error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
  return { exitCode: EXIT_FAILURE, message: `error: ${message}` };
}

/** Commander's errors (usage errors, and help or version output), recognized without importing it here. */
function isCommanderError(error: unknown): error is { exitCode: number } {
  return error instanceof Error && 'exitCode' in error && typeof error.exitCode === 'number' && 'code' in error && String(error.code).startsWith('commander.');
}
