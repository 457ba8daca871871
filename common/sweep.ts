import type { StepKind } from './step-kind.ts';
import { trialActivityId } from './step-activity-ids.ts';

/**
 * Sweeps: a step with a `matrix` runs once per combination of the matrix values (a *trial*),
 * and the step's outputs are those of the trial a `select` rule picks. Sandbox-safe: the client
 * expands and validates the matrix, the workflow picks the winner with the same code.
 */

/** A matrix value: what may stand for `${{ matrix.<name> }}`. */
export type MatrixValue = string | number | boolean;

/** One trial's settings: matrix entry name → value. */
export type TrialMatrix = Record<string, MatrixValue>;

/** Most trials one step may expand to; more is refused at validation (split the sweep). */
export const MAX_SWEEP_TRIALS = 64;

/**
 * Sweeps with more trials than this run each trial as a child workflow (`runSweepTrial`), so the
 * pipeline's own history holds three events per trial instead of every cache and step activity:
 * a 64-trial sweep stays far below Temporal's history limits.
 */
export const SWEEP_CHILD_WORKFLOW_THRESHOLD = 8;

export type SelectGoal = 'max' | 'min';

export interface SweepSelect {
  /** An output name, a dotted path into the outputs, or a metric the kind reports by name (`valAuc`). */
  metric: string;
  goal: SelectGoal;
}

/** A sweep as the workflow runs it: expanded by the client, so the workflow never expands anything. */
export interface ResolvedSweep {
  /** Every combination, in expansion order; `index` is the trial's identity within the step. */
  trials: { index: number; matrix: TrialMatrix }[];
  /** Trials running at once. */
  maxParallel: number;
  select?: SweepSelect;
  /** Trials that must succeed for the step to succeed; default: all of them. */
  minSuccess: number;
}

/** Id of trial `index` of `stepId` (`train#3`): its activity id, and its child workflow's after `<workflowId>/`. */
export function trialId(stepId: string, index: number): string {
  return trialActivityId(stepId, index);
}

/** `learningRate=0.001 headUnits=64`: a trial's settings in one line. */
export function formatTrialMatrix(matrix: Readonly<TrialMatrix>): string {
  return Object.entries(matrix)
    .map(([name, value]) => `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}

/**
 * Every combination of the matrix, the first entry varying slowest (as written), without those
 * matching an `exclude` entry (all of whose names have the trial's values).
 */
export function expandMatrix(
  matrix: Readonly<Record<string, readonly MatrixValue[]>>,
  exclude: readonly Readonly<Record<string, MatrixValue>>[] = [],
): TrialMatrix[] {
  let combinations: TrialMatrix[] = [{}];
  for (const [name, values] of Object.entries(matrix)) {
    combinations = combinations.flatMap((combination) => values.map((value) => ({ ...combination, [name]: value })));
  }
  return combinations.filter((combination) => !exclude.some((rule) => Object.entries(rule).every(([name, value]) => combination[name] === value)));
}

/** Number of combinations before excludes, without building them (to refuse a huge matrix early). */
export function matrixSize(matrix: Readonly<Record<string, readonly unknown[]>>): number {
  return Object.values(matrix).reduce((product, values) => product * values.length, 1);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The value of the `select` metric in one trial's outputs: a top-level output, a dotted path
 * (`metrics.auc`), or a metric the kind reports by name in its metrics output (train:
 * `valAuc` in `finalMetrics`). `undefined` when the outputs hold no finite number there.
 */
export function metricValue(kind: Pick<StepKind, 'metrics'>, outputs: Readonly<Record<string, unknown>>, metric: string): number | undefined {
  const path = metric.split('.');
  let current: unknown = outputs;
  for (const part of path) current = isRecord(current) && Object.hasOwn(current, part) ? current[part] : undefined;
  if (current === undefined && path.length === 1 && kind.metrics !== undefined) {
    const record = outputs[kind.metrics.output];
    current = isRecord(record) ? record[metric] : undefined;
  }
  return typeof current === 'number' && Number.isFinite(current) ? current : undefined;
}

export type TrialStatus = 'succeeded' | 'failed' | 'cancelled';

/**
 * One trial as the step's `trials` output lists it: what it ran with and what it gave, nothing
 * about how it ran. Whether it came from the cache, and its cache key, are left out on purpose
 * (`mlp show` lists both): outputs feed the cache keys of later steps and `mlp reproduce`
 * compares them, so a run from the cache, or with the cache off, must give the same list.
 */
export interface TrialRecord {
  index: number;
  matrix: TrialMatrix;
  status: TrialStatus;
  /** The `select` metric, when the trial succeeded and reported it. */
  metric?: number;
  /** The winner of the `select` rule. */
  selected: boolean;
  error?: string;
}

/**
 * The winning trial: best metric for the goal among trials that succeeded with a metric; ties
 * go to the lowest trial index (the first in expansion order), so the same results always pick
 * the same trial.
 */
export function selectTrial<T extends { index: number; metric?: number }>(trials: readonly T[], goal: SelectGoal): T | undefined {
  let best: T | undefined;
  for (const trial of [...trials].sort((a, b) => a.index - b.index)) {
    if (trial.metric === undefined) continue;
    if (best?.metric === undefined || (goal === 'max' ? trial.metric > best.metric : trial.metric < best.metric)) best = trial;
  }
  return best;
}
