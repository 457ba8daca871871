import { z } from 'zod';
import type { StepKind } from '../step-kind.ts';
import { objectKeySchema, sha256Schema } from './fields.ts';

/**
 * `uses: run`: the user's own code as a durable, cached, resumable step (docs/run-steps.md).
 * Outputs are named by the user, so a run step's output object is open: each declared output
 * name holds an object key, next to the reserved `metrics` and `artifacts`.
 */

/** A name the user gives an input or output: becomes `$MLP_INPUTS/<name>` and `steps.<id>.outputs.<name>`. */
export const RUN_ARTIFACT_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Output names the kind itself uses. */
export const RESERVED_RUN_OUTPUTS = ['metrics', 'artifacts'] as const;

/** `sha256:<hex>`: the packaged code the CLI stored as `code/<hex>.tar.gz` at submit time. */
export const PACKAGED_CODE = /^sha256:([a-f0-9]{64})$/;

const artifactName = z.string().regex(RUN_ARTIFACT_NAME, 'expected a name of letters, digits, _ and - (not starting with a digit or -)');

const outputName = artifactName.refine((name) => !(RESERVED_RUN_OUTPUTS as readonly string[]).includes(name), {
  message: `${RESERVED_RUN_OUTPUTS.join(' and ')} are reserved output names`,
});

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
  .refine((name) => !name.startsWith('MLP_'), { message: 'MLP_* variables are set by the worker' });

/** A command item: matrix values arrive as numbers or booleans and are passed as their text. */
const commandItem = z.union([z.string(), z.number(), z.boolean()]);

export const RUN_OUTPUT_TYPES = ['file', 'directory'] as const;
export type RunOutputType = (typeof RUN_OUTPUT_TYPES)[number];

const input = z
  .strictObject({
    code: z
      .string()
      .min(1)
      .describe('A folder relative to the pipeline file, packaged by the CLI at submit time; the resolved spec records sha256:<hex>'),
    command: z
      .array(commandItem)
      .min(1)
      .describe('Argument list (never a shell string), run in the code folder; `python` is the step environment’s interpreter when `python` is set'),
    python: z
      .strictObject({
        requirements: z.string().min(1).optional().describe('A requirements file inside `code`, installed once per (Python version, content) into a reused virtual environment'),
      })
      .optional()
      .describe('Run `python` in a virtual environment the worker builds and reuses'),
    inputs: z
      .record(artifactName, objectKeySchema)
      .default({})
      .describe('Artifacts staged read-only at $MLP_INPUTS/<name>: a run step output, a dataset or split manifest, a model'),
    outputs: z
      .record(outputName, z.enum(RUN_OUTPUT_TYPES))
      .default({})
      .describe('What the command writes to $MLP_OUTPUTS/<name>: file or directory; each becomes steps.<id>.outputs.<name>'),
    env: z.record(envName, z.string()).default({}).describe('Extra environment variables of the command'),
    nonRetryableExitCodes: z
      .array(z.number().int().min(1).max(255))
      .default([])
      .describe('Exit codes that fail the step at once instead of being retried'),
    gracePeriodSeconds: z
      .number()
      .int()
      .min(0)
      .max(600)
      .default(10)
      .describe('Between SIGTERM and SIGKILL of the command’s process group on cancellation, timeout or worker shutdown'),
  })
  .describe('run inputs');

/** What was uploaded for one declared output. */
export const runArtifactSchema = z.object({
  type: z.enum(RUN_OUTPUT_TYPES),
  key: objectKeySchema.describe('The file’s key, or the folder’s prefix (ending in /)'),
  sha256: sha256Schema.describe('The file’s sha256, or the sha256 of the folder’s sorted listing of paths and file hashes'),
  bytes: z.number().int().min(0),
});
export type RunArtifact = z.infer<typeof runArtifactSchema>;

const output = z
  .object({
    metrics: z.record(z.string(), z.number()).describe('The JSON object of numbers the command wrote to $MLP_METRICS'),
    artifacts: z.record(z.string(), runArtifactSchema).describe('Each declared output with its type, key, sha256 and size'),
  })
  .catchall(objectKeySchema)
  .describe('One object key per declared output, by name');

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Runs the user's command on a worker with staged inputs, uploaded outputs, logs, checkpoints and metrics. */
export const runStep = {
  uses: 'run',
  activity: 'runUserCode',
  version: '1',
  description: "Runs the user's own code (a packaged folder and an argument list) as a durable, cached, resumable step",
  input,
  output,
  outputNamesOf: (input) => [...Object.keys(isRecord(input['outputs']) ? input['outputs'] : {}), ...RESERVED_RUN_OUTPUTS],
  artifactInputs: ['inputs'],
  artifactOutputs: ['artifacts'],
  // The Python version joins the cache key (its `engine` part) when `python:` is set.
  interpreter: (input) => (input['python'] === undefined ? undefined : 'python'),
  // The user's metrics are named by the user: `select.metric` may name any of them.
  metrics: { output: 'metrics', names: [] },
  defaultQueue: 'cpu',
} as const satisfies StepKind<typeof input, typeof output>;

export type RunInput = z.infer<typeof input>;
export type RunOutput = z.infer<typeof output>;
