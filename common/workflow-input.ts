import { NON_RETRYABLE_ERROR_TYPES } from './errors.ts';

/**
 * The resolved pipeline as `runPipeline`'s input. Every resolved step's retry lists the built-in
 * non-retryable error types first (common/pipeline-spec/resolve.ts), about 600 bytes a step:
 * in a wide pipeline nearly all of its input, which the server caps at 2 MB. The workflow adds
 * the built-ins to every step's list anyway (workflows/step-options.ts), so the input leaves
 * them out and keeps only a step's own additions; readers of a recorded input put them back,
 * which restores the resolved spec exactly (the spec hash is computed on that, never on this).
 */

interface WithRetryTypes {
  retry: { nonRetryableErrorTypes?: string[] | undefined };
}

const BUILTIN = new Set<string>(NON_RETRYABLE_ERROR_TYPES);

/** `types` in the resolver's order: the built-ins first, then the step's own, each once. */
function withBuiltins(types: readonly string[] | undefined): string[] {
  return [...new Set([...NON_RETRYABLE_ERROR_TYPES, ...(types ?? [])])];
}

/** The input to start a run with: each step's built-in retry types left out. */
export function compactWorkflowInput<Step extends WithRetryTypes, Pipeline extends { steps: readonly Step[] }>(pipeline: Pipeline): Pipeline {
  return {
    ...pipeline,
    steps: pipeline.steps.map((step) => {
      const types = step.retry.nonRetryableErrorTypes;
      // Only a list in the resolver's form: anything else goes as it is, so nothing is lost.
      if (types === undefined || withBuiltins(types).join('\n') !== types.join('\n')) return step;
      const own = types.filter((type) => !BUILTIN.has(type));
      const { nonRetryableErrorTypes: _builtins, ...retry } = step.retry;
      return { ...step, retry: own.length > 0 ? { ...retry, nonRetryableErrorTypes: own } : retry };
    }),
  };
}

/**
 * A recorded input as the resolved spec it came from: the built-ins back in front of each step's
 * list. Inputs recorded before they were left out already hold them and come back unchanged.
 */
export function expandWorkflowInput<Step extends WithRetryTypes, Pipeline extends { steps: readonly Step[] }>(pipeline: Pipeline): Pipeline {
  return {
    ...pipeline,
    steps: pipeline.steps.map((step) => ({ ...step, retry: { ...step.retry, nonRetryableErrorTypes: withBuiltins(step.retry.nonRetryableErrorTypes) } })),
  };
}
