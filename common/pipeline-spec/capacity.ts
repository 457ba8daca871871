import type { ResolvedStep } from '../resolved-pipeline.ts';
import {
  DEFAULT_MAX_PARALLEL,
  FOREACH_CHILD_THRESHOLD,
  HISTORY_BYTES_PER_ACTIVITY,
  HISTORY_BYTES_PER_CHILD,
  HISTORY_EVENTS_PER_ACTIVITY,
  HISTORY_EVENTS_PER_CHILD,
  HISTORY_EVENTS_PER_RUN,
  MAX_FOREACH_ITEMS,
  STEP_GROUP_SIZE,
  TEMPORAL_LIMITS,
} from '../scale-limits.ts';
import { planStepUnits } from '../step-groups.ts';
import { compactWorkflowInput } from '../workflow-input.ts';
import { SWEEP_CHILD_WORKFLOW_THRESHOLD } from '../sweep.ts';
import type { SpecIssue } from './issues.ts';

/**
 * What a run of a pipeline costs its workflow's history at most, from the spec alone, and the
 * checks `mlp validate` / `mlp plan` / `mlp run` make against the server's per-workflow limits
 * (common/scale-limits.ts). The estimate is an upper bound: every activity is counted with a
 * workflow task of its own, a cached step with all four of its activities, a foreach with the
 * longest list allowed.
 */

export interface HistoryEstimate {
  /** Events of the run's own history (child workflows keep theirs). */
  events: number;
  bytes: number;
  /** Child workflows the run starts: step groups, foreach chunks, large sweeps' trials. */
  childWorkflows: number;
  /** Steps that run in `runStepGroup` children because many share their needs. */
  groupedSteps: number;
  maxParallel: number;
}

/** Activities one step runs: with the cache, key and lookup before and the record after its own. */
function activitiesPerStep(step: Pick<ResolvedStep, 'cache'>): number {
  return step.cache ? 4 : 1;
}

/**
 * A grouped step's id, kind, queue and settings in the group's input, its status in the result,
 * its outputs again in the run's result. Measured: the 3,001-step wide DAG's history was its
 * input (then 1.9 MB, before common/workflow-input.ts) plus about 250 bytes per step
 * (test/integration/scale.test.ts).
 */
const GROUPED_STEP_BYTES = 300;

/**
 * One foreach item's record, `{ status, outputs }`, is in the history three times: its chunk's
 * result, the step's outputs in the run's result, and the chunk's input holds the item. Measured:
 * 10,000 noop items made a 1.5 MB history, about 150 bytes an item.
 */
const FOREACH_ITEM_BYTES = 200;

function jsonBytes(value: unknown): number {
  return JSON.stringify(value)?.length ?? 0;
}

export function estimateRunHistory(pipeline: { steps: readonly ResolvedStep[]; maxParallel?: number | undefined }): HistoryEstimate {
  const units = planStepUnits(pipeline.steps);
  const byId = new Map(pipeline.steps.map((step) => [step.id, step]));
  // The run's input (the resolved pipeline) is recorded in its first event.
  let events = HISTORY_EVENTS_PER_RUN;
  let bytes = jsonBytes(compactWorkflowInput(pipeline));
  let childWorkflows = 0;
  let groupedSteps = 0;
  const activities = (count: number, payload: number): void => {
    events += count * HISTORY_EVENTS_PER_ACTIVITY;
    bytes += count * HISTORY_BYTES_PER_ACTIVITY + payload;
  };
  const children = (count: number, payload: number): void => {
    childWorkflows += count;
    events += count * HISTORY_EVENTS_PER_CHILD;
    bytes += count * HISTORY_BYTES_PER_CHILD + payload;
  };
  for (const unit of units) {
    const steps = unit.steps.flatMap((id) => byId.get(id) ?? []);
    if (unit.group) {
      groupedSteps += steps.length;
      // The group's input holds each step's inputs and kind (options are shared); its result each step's outputs.
      children(1, steps.reduce((sum, step) => sum + GROUPED_STEP_BYTES + 2 * jsonBytes(step.with), 0));
      continue;
    }
    for (const step of steps) {
      const perItem = activitiesPerStep(step);
      if (step.sweep !== undefined) {
        const trials = step.sweep.trials.length;
        if (trials > SWEEP_CHILD_WORKFLOW_THRESHOLD) children(trials, trials * 2 * jsonBytes(step.with));
        else activities(trials * perItem, trials * 2 * jsonBytes(step.with));
      } else if (step.foreach !== undefined) {
        // The longest list allowed: every chunk a child; the largest inline list besides.
        const chunks = Math.ceil(MAX_FOREACH_ITEMS / STEP_GROUP_SIZE);
        children(chunks, chunks * 2 * jsonBytes(step));
        activities(FOREACH_CHILD_THRESHOLD * perItem, 0);
        bytes += MAX_FOREACH_ITEMS * FOREACH_ITEM_BYTES;
      } else {
        activities(perItem, 2 * jsonBytes(step.with));
      }
    }
  }
  return { events, bytes, childWorkflows, groupedSteps, maxParallel: pipeline.maxParallel ?? DEFAULT_MAX_PARALLEL };
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** What to do about a pipeline too large for one workflow. */
const REMEDY = 'use a foreach step over a list instead of one step per item, give the wide steps the same needs (they then run in child workflows), or split the pipeline';

/**
 * Problems that make the run impossible: a history past the server's limits, an input over its
 * payload limit. Reported at `steps` (there is no one line to blame).
 */
export function capacityIssues(pipeline: { steps: readonly ResolvedStep[]; maxParallel?: number | undefined }): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const input = jsonBytes(compactWorkflowInput(pipeline));
  if (input > TEMPORAL_LIMITS.payloadBytes) {
    issues.push({
      path: ['steps'],
      atKey: true,
      message: `the resolved pipeline is ${megabytes(input)}, over the server's ${megabytes(TEMPORAL_LIMITS.payloadBytes)} limit on a workflow's input (${pipeline.steps.length} steps): ${REMEDY}`,
    });
  }
  const estimate = estimateRunHistory(pipeline);
  if (estimate.events > TEMPORAL_LIMITS.historyEvents) {
    issues.push({
      path: ['steps'],
      atKey: true,
      message: `a run would record about ${estimate.events} history events, over the server's per-workflow limit of ${TEMPORAL_LIMITS.historyEvents} (${pipeline.steps.length} steps): ${REMEDY}`,
    });
  }
  if (estimate.bytes > TEMPORAL_LIMITS.historyBytes) {
    issues.push({
      path: ['steps'],
      atKey: true,
      message: `a run's history would grow to about ${megabytes(estimate.bytes)}, over the server's per-workflow limit of ${megabytes(TEMPORAL_LIMITS.historyBytes)}: ${REMEDY}`,
    });
  }
  return issues;
}

/** Warnings for a run that fits but goes past the server's warning thresholds (it logs them; the run goes on). */
export function capacityWarnings(estimate: HistoryEstimate): string[] {
  const warnings: string[] = [];
  if (estimate.events > TEMPORAL_LIMITS.historyEventsWarning) {
    warnings.push(`a run may record up to ${estimate.events} history events, past the server's warning threshold of ${TEMPORAL_LIMITS.historyEventsWarning} (limit ${TEMPORAL_LIMITS.historyEvents}): ${REMEDY}`);
  }
  if (estimate.bytes > TEMPORAL_LIMITS.historyBytesWarning) {
    warnings.push(`a run's history may grow to ${megabytes(estimate.bytes)}, past the server's warning threshold of ${megabytes(TEMPORAL_LIMITS.historyBytesWarning)} (limit ${megabytes(TEMPORAL_LIMITS.historyBytes)})`);
  }
  return warnings;
}

