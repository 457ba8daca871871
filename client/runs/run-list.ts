import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../../common/search-attributes.ts';

/**
 * Pipeline runs from Temporal visibility: a list query on the workflow type, the custom search
 * attributes (PipelineName) and the built-in ExecutionStatus / TemporalScheduledById.
 */

/** `--status` values → Temporal's ExecutionStatus names in visibility queries. */
export const RUN_STATUS_FILTERS = {
  running: 'Running',
  succeeded: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  terminated: 'Terminated',
  'timed-out': 'TimedOut',
} as const;

export type RunStatusFilter = keyof typeof RUN_STATUS_FILTERS;

export function isRunStatusFilter(value: string): value is RunStatusFilter {
  return Object.hasOwn(RUN_STATUS_FILTERS, value);
}

export interface RunListFilter {
  pipeline?: string;
  status?: RunStatusFilter;
  /** Schedule id: only runs that schedule started. */
  schedule?: string;
}

export interface RunSummary {
  workflowId: string;
  runId: string;
  pipeline?: string;
  /** Temporal's execution status (RUNNING, COMPLETED, …). */
  status: string;
  /** The workflow's own PipelineStatus search attribute (running, succeeded, failed, cancelled). */
  pipelineStatus?: string;
  datasetHash?: string;
  modelVersion?: string;
  specHash?: string;
  scheduledBy?: string;
  startTime: string;
  closeTime?: string;
}

/** A visibility string literal; single quotes and backslashes escaped. */
export function queryLiteral(value: string): string {
  return `'${value.replace(/[\\']/g, (char) => `\\${char}`)}'`;
}

export function runListQuery(filter: RunListFilter): string {
  const clauses = [`WorkflowType = 'runPipeline'`];
  if (filter.pipeline !== undefined) clauses.push(`PipelineName = ${queryLiteral(filter.pipeline)}`);
  if (filter.status !== undefined) clauses.push(`ExecutionStatus = '${RUN_STATUS_FILTERS[filter.status]}'`);
  if (filter.schedule !== undefined) clauses.push(`TemporalScheduledById = ${queryLiteral(filter.schedule)}`);
  return clauses.join(' AND ');
}

const SCHEDULED_BY = { name: 'TemporalScheduledById', type: 'KEYWORD' } as const;

function keyword(info: WorkflowExecutionInfo, key: { name: string; type: 'KEYWORD' }): string | undefined {
  return info.typedSearchAttributes.get(key);
}

export function runSummary(info: WorkflowExecutionInfo): RunSummary {
  const specHash = info.memo?.['specHash'];
  const optional = {
    pipeline: keyword(info, PIPELINE_SEARCH_ATTRIBUTES.PipelineName),
    pipelineStatus: keyword(info, PIPELINE_SEARCH_ATTRIBUTES.PipelineStatus),
    datasetHash: keyword(info, PIPELINE_SEARCH_ATTRIBUTES.DatasetHash),
    modelVersion: keyword(info, PIPELINE_SEARCH_ATTRIBUTES.ModelVersion),
    specHash: typeof specHash === 'string' ? specHash : undefined,
    scheduledBy: keyword(info, SCHEDULED_BY),
    closeTime: info.closeTime?.toISOString(),
  };
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    status: info.status.name,
    startTime: info.startTime.toISOString(),
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== undefined)),
  };
}

/** Newest first (visibility's order), at most `limit`. */
export async function listRuns(client: Client, filter: RunListFilter, limit: number): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  if (limit <= 0) return runs;
  for await (const info of client.workflow.list({ query: runListQuery(filter), pageSize: Math.min(limit, 1000) })) {
    runs.push(runSummary(info));
    if (runs.length >= limit) break;
  }
  return runs;
}
