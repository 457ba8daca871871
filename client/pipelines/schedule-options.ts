import { ScheduleOverlapPolicy, type ScheduleOptions } from '@temporalio/client';
import { PipelineSpecError } from '../../common/errors.ts';
import type { ScheduleSpec } from '../../common/pipeline-spec/schema.ts';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../../common/search-attributes.ts';
import { pipelineStartOptions } from './pipeline-start.ts';

/**
 * A pipeline as a Temporal Schedule: the resolved spec is frozen into the schedule's action with
 * the same start options as `mlp run` (memo, PipelineName search attribute, UI summary), so a
 * scheduled run looks like any other and is listed under its schedule.
 */

/** Overlap policies by their CLI names (kebab-case) and pipeline-file names (camelCase). */
export const OVERLAP_POLICIES = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
} as const;

export type OverlapName = keyof typeof OVERLAP_POLICIES;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[OverlapName];

const FILE_OVERLAP: Record<ScheduleSpec['overlap'], OverlapName> = {
  skip: 'skip',
  bufferOne: 'buffer-one',
  bufferAll: 'buffer-all',
  cancelOther: 'cancel-other',
  terminateOther: 'terminate-other',
  allowAll: 'allow-all',
};

export function isOverlapName(value: string): value is OverlapName {
  return Object.hasOwn(OVERLAP_POLICIES, value);
}

/** The CLI name of a policy a schedule reports (`BUFFER_ONE` → `buffer-one`; unset is the server's skip). */
export function overlapName(policy: string | undefined): string {
  return (policy ?? 'SKIP').toLowerCase().replace(/_/g, '-');
}

/**
 * Missed runs (server down at 02:00) are still started within this window after it comes back.
 * Short on purpose: Temporal's default of one year would replay a year of nightly retrains.
 */
export const DEFAULT_CATCHUP_WINDOW = '1d';

/** Workflow id of scheduled runs; Temporal appends the scheduled time to it. */
export function scheduledWorkflowId(pipeline: string): string {
  return `${pipeline}-scheduled`;
}

export interface PipelineScheduleSettings {
  scheduleId: string;
  cron: string;
  /** IANA time zone. @default 'UTC' */
  timeZone?: string;
  /** @default 'skip' */
  overlap?: OverlapName;
  /** @default DEFAULT_CATCHUP_WINDOW */
  catchupWindow?: string;
  paused?: boolean;
  note?: string;
  taskQueuePrefix: string;
}

/** Settings from a pipeline file's own `schedule:` block. */
export function fileScheduleSettings(
  spec: { name: string; schedule?: ScheduleSpec | undefined },
  file: string,
): Pick<PipelineScheduleSettings, 'cron' | 'timeZone' | 'overlap'> {
  if (spec.schedule === undefined) {
    throw new PipelineSpecError(`Applying the schedule of ${file} failed: pipeline "${spec.name}" has no schedule: block`);
  }
  return { cron: spec.schedule.cron, timeZone: spec.schedule.timeZone, overlap: FILE_OVERLAP[spec.schedule.overlap] };
}

export function pipelineScheduleOptions(spec: ResolvedPipeline, settings: PipelineScheduleSettings): ScheduleOptions {
  const start = pipelineStartOptions(spec, { workflowId: scheduledWorkflowId(spec.name), taskQueuePrefix: settings.taskQueuePrefix });
  return {
    scheduleId: settings.scheduleId,
    spec: { cronExpressions: [settings.cron], timezone: settings.timeZone ?? 'UTC' },
    action: {
      type: 'startWorkflow',
      workflowType: 'runPipeline',
      workflowId: start.workflowId,
      taskQueue: start.taskQueue,
      args: start.args,
      ...(start.memo === undefined ? {} : { memo: start.memo }),
      ...(start.typedSearchAttributes === undefined ? {} : { typedSearchAttributes: start.typedSearchAttributes }),
      ...(start.staticSummary === undefined ? {} : { staticSummary: start.staticSummary }),
      ...(start.staticDetails === undefined ? {} : { staticDetails: start.staticDetails }),
    },
    policies: {
      overlap: OVERLAP_POLICIES[settings.overlap ?? 'skip'],
      catchupWindow: settings.catchupWindow ?? DEFAULT_CATCHUP_WINDOW,
    },
    state: { paused: settings.paused ?? false, ...(settings.note === undefined ? {} : { note: settings.note }) },
    memo: { pipeline: spec.name, specHash: spec.specHash },
    typedSearchAttributes: [{ key: PIPELINE_SEARCH_ATTRIBUTES.PipelineName, value: spec.name }],
  };
}
