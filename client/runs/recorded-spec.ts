import { z } from 'zod';
import { QUEUE_KINDS } from '../../common/task-queues.ts';

/**
 * The resolved spec a run was started with, read back from its first history event. Parsed,
 * never cast: a run started by an older or foreign client may hold anything. Objects are loose
 * so a field this client does not know survives a re-submission (`mlp reproduce`) unchanged.
 */

const retrySpecSchema = z.looseObject({
  maximumAttempts: z.number().int(),
  initialInterval: z.string(),
  backoffCoefficient: z.number(),
  maximumInterval: z.string().optional(),
  nonRetryableErrorTypes: z.array(z.string()).optional(),
});

const resolvedStepSchema = z.looseObject({
  id: z.string(),
  uses: z.string(),
  with: z.record(z.string(), z.unknown()),
  needs: z.array(z.string()),
  queue: z.enum(QUEUE_KINDS),
  retry: retrySpecSchema,
  timeout: z.string(),
  heartbeatTimeout: z.string().optional(),
  cache: z.boolean(),
});

export const resolvedPipelineSchema = z.looseObject({
  apiVersion: z.literal('mlp/v1'),
  name: z.string(),
  description: z.string().optional(),
  specHash: z.string(),
  params: z.record(z.string(), z.unknown()),
  steps: z.array(resolvedStepSchema).min(1),
});

export const runPipelineOptionsSchema = z.looseObject({
  taskQueuePrefix: z.string().optional(),
  /** `mlp rerun`: the earlier run and its recorded outputs by step. */
  reuse: z.looseObject({ run: z.string(), steps: z.record(z.string(), z.record(z.string(), z.unknown())) }).optional(),
});

/** `runPipeline`'s arguments: the spec, then (optionally) the deployment options. */
export const runPipelineArgsSchema = z.tuple([resolvedPipelineSchema], runPipelineOptionsSchema.optional());
