import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { StepOutputs } from '../../common/step-activities.ts';
import { getPipelineProgress, type PipelineProgressView } from './progress.ts';
import { progressFromHistory, type History } from './run-history.ts';
import { hasWorkflowPollers } from './task-queue-pollers.ts';

/**
 * Everything `mlp show` and `mlp watch` print about one run: the workflow's own progress query
 * (with attempts and heartbeats merged in) when a worker answers it, else the same shape rebuilt
 * from the history, plus the server's execution status and what the step outputs point at.
 */

export interface ArtifactRef {
  step: string;
  /** Output path, e.g. `trainManifest` or `plots.roc`. */
  output: string;
  key: string;
}

export interface RunView extends PipelineProgressView {
  runId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, … */
  status: string;
  taskQueue: string;
  /** `query` when a worker answered, `history` when rebuilt from the event history. */
  source: 'query' | 'history';
  /** Why the history was used, for the person reading. */
  note?: string;
  /** Metrics objects by step (outputs named `metrics`). */
  metrics: Record<string, unknown>;
  /** Object keys among the step outputs (runs/…, datasets/…, models/…). */
  artifacts: ArtifactRef[];
  /** Report keys (outputs named `report`) by step. */
  reports: Record<string, string>;
  /** `mlp rerun`: the run this one reruns (`<workflowId>/<runId>`) and the steps it started from (memo). */
  rerunOf?: { run: string; from: string };
}

/** How long a worker may take to answer the progress query (it may replay a long history first). */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

/** Prefixes of the object keys steps output; `artifacts/` holds run steps' outputs (content-addressed). */
const ARTIFACT_KEY = /^(runs|datasets|models|artifacts)\//;

/**
 * A run step's `artifacts` output repeats each declared output's key with its hash and size: the
 * key is listed once, under the output's own name.
 */
const DETAIL_OUTPUTS = new Set(['artifacts']);

function collectArtifacts(step: string, value: unknown, path: string, into: ArtifactRef[]): void {
  if (typeof value === 'string') {
    if (ARTIFACT_KEY.test(value)) into.push({ step, output: path, key: value });
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => collectArtifacts(step, item, `${path}[${index}]`, into));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) collectArtifacts(step, item, path === '' ? key : `${path}.${key}`, into);
  }
}

/** Metrics, artifact keys and reports named by the steps' outputs. */
export function outputHighlights(steps: readonly { id: string; outputs?: StepOutputs }[]): Pick<RunView, 'metrics' | 'artifacts' | 'reports'> {
  const metrics: Record<string, unknown> = {};
  const artifacts: ArtifactRef[] = [];
  const reports: Record<string, string> = {};
  for (const step of steps) {
    if (step.outputs === undefined) continue;
    if (step.outputs['metrics'] !== undefined) metrics[step.id] = step.outputs['metrics'];
    const report = step.outputs['report'];
    if (typeof report === 'string') reports[step.id] = report;
    for (const [name, value] of Object.entries(step.outputs)) {
      if (!DETAIL_OUTPUTS.has(name)) collectArtifacts(step.id, value, name, artifacts);
    }
  }
  return { metrics, artifacts, reports };
}

export interface RunViewOptions {
  /** @default DEFAULT_QUERY_TIMEOUT_MS */
  queryTimeoutMs?: number;
  /**
   * The run's event history, given whether the run is still open (`mlp watch` passes what its
   * follower has read so far). @default the whole history, fetched once per view
   */
  history?: (running: boolean) => Promise<History>;
}

/** The run's view: from the progress query when a worker answers in time, else from history. */
export async function loadRunView(client: Client, handle: WorkflowHandle, options: RunViewOptions = {}): Promise<RunView> {
  const description = await handle.describe();
  const { rerunOf, from } = description.memo ?? {};
  const base = {
    runId: description.runId,
    status: description.status.name,
    taskQueue: description.taskQueue,
    ...(typeof rerunOf === 'string' && typeof from === 'string' ? { rerunOf: { run: rerunOf, from } } : {}),
  };
  const pinned = client.workflow.getHandle(handle.workflowId, description.runId);
  let fetched: Promise<History> | undefined;
  const read = (): Promise<History> => (options.history ? options.history(description.status.name === 'RUNNING') : pinned.fetchHistory());
  // Read once per view; a read cut short by the query's deadline is tried again for the fallback.
  const history = (): Promise<History> =>
    (fetched ??= read().catch((error: unknown) => {
      fetched = undefined;
      throw error;
    }));
  let progress: PipelineProgressView | undefined;
  let note: string | undefined;
  if (await hasWorkflowPollers(client, description.taskQueue)) {
    try {
      progress = await client.withDeadline(Date.now() + (options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS), () =>
        getPipelineProgress(pinned, history),
      );
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw error;
      note = `no worker answered the progress query (${error instanceof Error ? error.message : String(error)}); showing what the history records`;
    }
  } else {
    note = `no worker polls task queue ${description.taskQueue}; showing what the history records (start one with \`mlp worker\`)`;
  }
  if (progress === undefined) {
    progress = progressFromHistory(await history(), handle.workflowId);
  }
  return {
    ...progress,
    ...base,
    source: note === undefined ? 'query' : 'history',
    ...(note === undefined ? {} : { note }),
    ...outputHighlights(progress.steps),
  };
}
