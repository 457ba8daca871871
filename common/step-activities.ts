import { STEP_KINDS, type StepKindName } from './step-kinds/index.ts';
import type { StepTracking } from './tracking.ts';

/**
 * The contract between the `runPipeline` workflow and the step activities: which activity runs
 * each step kind, and what it receives. The names live on the step kinds (`activity:` in
 * common/step-kinds/<kind>.ts); workers register activities under them and the workflow reaches
 * them only through `stepActivity` (never by a name read from YAML).
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
  /** The run's MLflow run (`tracking.mlflow`): set only for tracked runs, so other histories are unchanged. */
  tracking?: StepTracking;
}

/** A step's outputs: small values (object keys, hashes, metrics), never data. */
export type StepOutputs = Record<string, unknown>;

/**
 * Signature of every step activity. `input` is the step's `with:` after every reference was
 * resolved; the activity validates it with its step kind's schema.
 */
export type StepActivity = (input: Record<string, unknown>, context: StepContext) => Promise<StepOutputs>;

type RegisteredKind = (typeof STEP_KINDS)[number];

/** Step kind (`uses:`) → name of the activity that runs it, as each kind file declares it. */
export type StepActivityNames = { [K in RegisteredKind as K['uses']]: K['activity'] };

/** Name of an activity that runs a step kind. */
export type StepActivityName = RegisteredKind['activity'];

function activityNames(): StepActivityNames {
  const names: Record<string, string> = {};
  for (const kind of STEP_KINDS) names[kind.uses] = kind.activity;
  // Built from STEP_KINDS just above, so every kind has its declared name.
  return names as StepActivityNames;
}

/** Step kind (`uses:`) → name of the activity that runs it, derived from `STEP_KINDS`. */
export const STEP_ACTIVITY_NAMES: StepActivityNames = activityNames();

/** The step activities a worker must register (type used by `proxyActivities`). */
export type StepActivities = Record<StepActivityName, StepActivity>;

/** True when `uses` names a step kind the workflow can run. */
export function isStepKindName(uses: string): uses is StepKindName {
  return Object.hasOwn(STEP_ACTIVITY_NAMES, uses);
}

/**
 * The activity running a step of kind `uses`, picked from a proxy (or a worker's activities):
 * typed dispatch through the kind's declared name, never a name read from YAML.
 */
export function stepActivity(activities: StepActivities, uses: StepKindName): StepActivity {
  return activities[STEP_ACTIVITY_NAMES[uses]];
}

/** Object-key prefix of a step's artifacts within a run. */
export function stepRunPrefix(workflowId: string, stepId: string): string {
  return `runs/${workflowId}/${stepId}/`;
}

/** Object-key prefix of one item of a foreach step: `runs/<workflowId>/<stepId>/items/<index>/`. */
export function itemRunPrefix(workflowId: string, stepId: string, index: number): string {
  return `${stepRunPrefix(workflowId, stepId)}items/${index}/`;
}

/** Object-key prefix of one trial of a sweep step: `runs/<workflowId>/<stepId>/trials/<index>/`. */
export function trialRunPrefix(workflowId: string, stepId: string, index: number): string {
  return `${stepRunPrefix(workflowId, stepId)}trials/${index}/`;
}
