import { z } from 'zod';
import type { StepKind } from '../step-kind.ts';

const input = z
  .strictObject({
    /** Echoed back as the step's `value` output. */
    value: z.unknown().optional().describe('Any value; echoed as the `value` output'),
    sleepMs: z.number().int().min(0).max(3_600_000).default(0).describe('Milliseconds to sleep (heartbeating) before returning'),
    fail: z
      .strictObject({
        type: z.string().min(1).default('Error').describe('Error name thrown, matched by nonRetryableErrorTypes'),
        message: z.string().default('noop step failed on purpose'),
        attempts: z.number().int().min(1).optional().describe('Fail only the first N attempts; omitted: every attempt'),
      })
      .optional()
      .describe('Make the step fail, for tests of retries and failure handling'),
  })
  .describe('noop inputs');

const output = z.strictObject({ value: z.unknown() });

/** Built-in step that echoes a value: orchestration tests and the overhead benchmark use it. */
export const noopStep = {
  uses: 'noop',
  activity: 'noop',
  version: '1',
  description: 'Echoes `value`, optionally after sleeping or failing: for tests and benchmarks',
  input,
  output,
  artifactInputs: [],
  defaultQueue: 'cpu',
} as const satisfies StepKind<typeof input, typeof output>;

export type NoopInput = z.infer<typeof input>;
export type NoopOutput = z.infer<typeof output>;
