import { z } from 'zod';

/**
 * What the worker records when an attempt of a `run` step ended, next to its log
 * (`stepLogStatusKey`): how the command ended and how many bytes the log holds. `mlp logs`
 * reads it to know a log is complete.
 */
export const StepLogStatusSchema = z.object({
  attempt: z.number().int().min(1),
  /** The command's exit code, null when a signal ended it (or it never started). */
  exitCode: z.number().int().nullable(),
  /** The signal that ended the command (SIGTERM, SIGKILL), or null. */
  signal: z.string().nullable(),
  startedAt: z.string(),
  endedAt: z.string(),
  /** Size of the complete log object. */
  bytes: z.number().int().min(0),
});
export type StepLogStatus = z.infer<typeof StepLogStatusSchema>;
