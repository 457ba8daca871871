import { z } from 'zod';
import { NOTIFY_EVENTS, type WebhookUrlSource } from '../notifications.ts';
import { DEFAULT_MAX_PARALLEL, MAX_FOREACH_ITEMS, MAX_PARALLEL_CEILING, TEMPORAL_LIMITS } from '../scale-limits.ts';
import { MAX_SWEEP_TRIALS } from '../sweep.ts';
import { QUEUE_KINDS } from '../task-queues.ts';
import { checkPipelineGraph } from './graph-rules.ts';

/**
 * The pipeline file format, version `mlp/v1`. Every object is strict: an unknown key is a typo
 * and an error. Cross-field rules (ids, needs, cycles, references) live in `graph-rules.ts`;
 * step inputs are checked against their kind's schema after params are resolved
 * (`resolve.ts`), because `${{ … }}` may stand where a number is expected.
 */

export const API_VERSION = 'mlp/v1';

/** Step ids and param names: usable in `${{ steps.<id> }}` and object keys. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export const durationSchema = z
  .string()
  .regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'expected a duration like 500ms, 30s, 10m, 2h or 1d')
  .describe('Duration: a number followed by ms, s, m, h or d');

export const retrySchema = z
  .strictObject({
    maximumAttempts: z.number().int().min(1).optional().describe('Attempts including the first; 1 disables retries'),
    initialInterval: durationSchema.optional(),
    backoffCoefficient: z.number().min(1).optional(),
    maximumInterval: durationSchema.optional(),
    nonRetryableErrorTypes: z.array(z.string().min(1)).optional().describe('Added to the built-in non-retryable types'),
  })
  .describe('Temporal retry policy; unset fields come from defaults.retry, then built-in values');

const paramDescription = z.string().optional();

export const paramSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('string'), default: z.string().optional(), description: paramDescription }),
    z.strictObject({ type: z.literal('number'), default: z.number().optional(), description: paramDescription }),
    z.strictObject({ type: z.literal('integer'), default: z.number().int().optional(), description: paramDescription }),
    z.strictObject({ type: z.literal('boolean'), default: z.boolean().optional(), description: paramDescription }),
  ],
  { error: 'expected a param with type: string, number, integer or boolean' },
);

export const defaultsSchema = z
  .strictObject({
    queue: z.enum(QUEUE_KINDS).optional().describe("Queue for steps that set none (else the step kind's own)"),
    retry: retrySchema.optional(),
    timeout: durationSchema.optional().describe('Start-to-close timeout of one attempt'),
    heartbeatTimeout: durationSchema.optional(),
    cache: z.boolean().optional(),
  })
  .describe('Settings every step inherits unless it sets its own');

export const scheduleSchema = z
  .strictObject({
    cron: z
      .string()
      .regex(/^\S+( \S+){4,5}$/, 'expected a cron expression with 5 or 6 fields, e.g. "0 2 * * *"')
      .describe('Cron expression, e.g. "0 2 * * *" for 02:00 every night'),
    timeZone: z.string().min(1).default('UTC').describe('IANA time zone, e.g. Europe/Berlin'),
    overlap: z
      .enum(['skip', 'bufferOne', 'bufferAll', 'cancelOther', 'terminateOther', 'allowAll'])
      .default('skip')
      .describe('What to do when a run is still going at the next trigger'),
  })
  .describe('Run the pipeline on a schedule (Temporal Schedule)');

/** Environment variable names as shells and container runtimes accept them. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const URL_SOURCE_EXPECTED = 'expected { env: NAME } or { file: PATH }: the webhook URL itself never goes in the pipeline file';

/** One of `env` and `file` (an object rather than a union, so a mistake gets one clear message). */
export const webhookUrlSourceSchema = z
  .strictObject(
    {
      env: z.string().regex(ENV_NAME, 'expected an environment variable name').optional().describe("Variable in the worker's environment holding the URL"),
      file: z.string().min(1).optional().describe('File on the worker holding the URL, e.g. a mounted secret /run/secrets/alert-url'),
    },
    { error: URL_SOURCE_EXPECTED },
  )
  .superRefine((source, context) => {
    if ((source.env === undefined) === (source.file === undefined)) context.addIssue({ code: 'custom', message: URL_SOURCE_EXPECTED });
  })
  .transform((source): WebhookUrlSource => (source.env === undefined ? { file: source.file ?? '' } : { env: source.env }))
  .describe('Where the worker reads the webhook URL (it usually holds a token): { env: NAME } or { file: PATH }');

export const notifyTargetSchema = z
  .strictObject({
    on: z.array(z.enum(NOTIFY_EVENTS)).min(1, 'expected at least one of failure, success, promoted').describe('Run ends that notify: failure, success, promoted (a publish step promoted a version)'),
    webhook: z
      .strictObject({ urlFrom: webhookUrlSourceSchema }, { error: 'expected { urlFrom: { env: NAME } } or { urlFrom: { file: PATH } }: the URL itself never goes in the pipeline file' })
      .describe('POST a JSON summary of the run (with a `text` field, as Slack incoming webhooks expect) to a URL the worker resolves'),
  })
  .describe('Where to tell about the end of a run');

const matrixValueSchema = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' });

export const sweepShape = {
  matrix: z
    .record(
      z.string().regex(IDENTIFIER, 'expected a matrix entry name of letters, digits, _ and -'),
      z.array(matrixValueSchema).min(1, 'expected at least one value'),
    )
    .optional()
    .describe(`Sweep: run the step once per combination of these values (at most ${MAX_SWEEP_TRIALS}), used in with: as \${{ matrix.<name> }}`),
  exclude: z
    .array(z.record(z.string(), matrixValueSchema))
    .optional()
    .describe('Sweep: combinations to leave out; an entry drops every trial having all its values'),
  maxParallel: z
    .number()
    .int()
    .min(1)
    .max(MAX_PARALLEL_CEILING, `expected at most ${MAX_PARALLEL_CEILING} (the server allows ${TEMPORAL_LIMITS.pendingActivities} pending activities per workflow)`)
    .optional()
    .describe("Sweep or foreach: trials or items running at once (default: all trials; the pipeline's maxParallel)"),
  select: z
    .strictObject({
      metric: z.string().min(1).describe('A numeric output, a path into the outputs (metrics.auc) or a metric the kind reports (train: valAuc)'),
      goal: z.enum(['max', 'min']),
    })
    .optional()
    .describe("Sweep: the trial whose outputs become the step's outputs; ties go to the lowest trial index"),
  minSuccess: z.number().int().min(1).optional().describe('Sweep or foreach: trials or items that must succeed (default: all)'),
  foreach: z
    .string()
    .min(1)
    .optional()
    .describe(
      `Fan-out: \${{ steps.<id>.outputs.<list> }}, a list an upstream step outputs (at most ${MAX_FOREACH_ITEMS} items); the step runs once per item, \${{ item }} in with:`,
    ),
};

export const trackingSchema = z
  .strictObject({
    mlflow: z
      .strictObject({
        experiment: z.string().trim().min(1, 'expected an experiment name').max(500).describe('MLflow experiment the runs go to; created when missing'),
        required: z.boolean().default(false).describe('true: a tracking server that cannot be reached fails the run (naming it) instead of adding a warning'),
      })
      .describe("Log the run to the MLflow server of the worker's MLFLOW_TRACKING_URI (credentials stay on the worker: MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD)"),
  })
  .describe('Experiment tracking (docs/tracking.md): params, per-epoch metrics, evaluation, artifacts and registered models in MLflow');

/** Fields every step has, whatever its kind (shared by the validation and the editor schema). */
export const stepCommonShape = {
  id: z.string().regex(IDENTIFIER, 'expected letters, digits, _ and -, starting with a letter or _'),
  description: z.string().optional(),
  needs: z.array(z.string()).default([]).describe('Ids of steps that must finish first'),
  queue: z.enum(QUEUE_KINDS).optional().describe('cpu or gpu worker queue'),
  retry: retrySchema.optional(),
  timeout: durationSchema.optional(),
  heartbeatTimeout: durationSchema.optional(),
  cache: z.boolean().optional().describe('Reuse recorded outputs when kind, version and input contents are unchanged'),
  ...sweepShape,
};

export const stepSchema = z.strictObject({
  ...stepCommonShape,
  uses: z.string().min(1).describe('Step kind'),
  with: z.record(z.string(), z.unknown()).default({}).describe("Inputs, checked against the step kind's schema"),
});

/** Top-level fields, shared by the validation and the editor schema. */
export const pipelineCommonShape = {
  apiVersion: z.literal(API_VERSION),
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected lower-case letters, digits and dashes (it prefixes workflow ids)'),
  description: z.string().optional(),
  params: z
    .record(z.string().regex(IDENTIFIER, 'expected a param name of letters, digits, _ and -'), paramSchema)
    .default({})
    .describe('Typed parameters, used as ${{ params.<name> }} and set with --set name=value'),
  defaults: defaultsSchema.default({}),
  maxParallel: z
    .number()
    .int()
    .min(1)
    .max(
      MAX_PARALLEL_CEILING,
      `expected at most ${MAX_PARALLEL_CEILING}: the server allows ${TEMPORAL_LIMITS.pendingActivities} pending activities and child workflows per workflow; use a foreach step or split the pipeline`,
    )
    .optional()
    .describe(`Steps (activities or child workflows) one run schedules at once; the rest wait in order (default ${DEFAULT_MAX_PARALLEL}, at most ${MAX_PARALLEL_CEILING})`),
  schedule: scheduleSchema.optional(),
  notify: z
    .array(notifyTargetSchema)
    .optional()
    .describe('Webhooks told when a run fails, succeeds or promotes a model; a webhook that fails never changes the run'),
  tracking: trackingSchema.optional(),
};

export const pipelineSpecSchema = z
  .strictObject({
    ...pipelineCommonShape,
    steps: z.array(stepSchema).min(1, 'expected at least one step'),
  })
  .superRefine(checkPipelineGraph);

export type PipelineSpec = z.infer<typeof pipelineSpecSchema>;
export type PipelineStep = z.infer<typeof stepSchema>;
export type ParamSpec = z.infer<typeof paramSchema>;
export type RetryOverrides = z.infer<typeof retrySchema>;
export type PipelineDefaults = z.infer<typeof defaultsSchema>;
export type ScheduleSpec = z.infer<typeof scheduleSchema>;
export type NotifyTargetSpec = z.infer<typeof notifyTargetSchema>;
