import type { StepKindName } from './step-kinds/index.ts';

/**
 * The contract between the `runPipeline` workflow and the step activities: which activity runs
 * each step kind, and what it receives. Workers register activities under these names; the
 * workflow reaches them only through this table (never by a name read from YAML).
 */

/** What every step activity receives besides its resolved `with:`. */
export interface StepContext {
  pipeline: string;
  workflowId: string;
  stepId: string;
  /** Object-key prefix for this step's artifacts: `runs/<workflowId>/<stepId>/`. */
  runPrefix: string;
  /** sha256 of the resolved spec (`ResolvedPipeline.specHash`), recorded in registry lineage. */
  specHash?: string;
}

/** A step's outputs: small values (object keys, hashes, metrics), never data. */
export type StepOutputs = Record<string, unknown>;

/**
 * Signature of every step activity. `input` is the step's `with:` after every reference was
 * resolved; the activity validates it with its step kind's schema.
 */
export type StepActivity = (input: Record<string, unknown>, context: StepContext) => Promise<StepOutputs>;

/** Step kind (`uses:`) → name of the activity that runs it. */
export const STEP_ACTIVITY_NAMES = {
  noop: 'noop',
  download: 'downloadDataset',
  subset: 'subsetDataset',
  train: 'trainModel',
  evaluate: 'evaluateModel',
  publish: 'publishModel',
} as const satisfies Record<StepKindName, string>;

/** The step activities a worker must register (type used by `proxyActivities`). */
export type StepActivities = { [K in StepKindName as (typeof STEP_ACTIVITY_NAMES)[K]]: StepActivity };

/** True when `uses` names a step kind the workflow can run. */
export function isStepKindName(uses: string): uses is StepKindName {
  return Object.hasOwn(STEP_ACTIVITY_NAMES, uses);
}

/** Object-key prefix of a step's artifacts within a run. */
export function stepRunPrefix(workflowId: string, stepId: string): string {
  return `runs/${workflowId}/${stepId}/`;
}
