import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { RunNotFoundError } from '../../common/errors.ts';
import { recordedStart, type RecordedStart } from '../runs/run-history.ts';
import { loadRunView, type RunView } from '../runs/run-view.ts';

/**
 * One run as `mlp artifacts`, `mlp report` and `mlp compare` read it: the view `mlp show` prints
 * (through its public loader, so it follows however progress is computed) and what the run was
 * started with (params, steps' inputs) from its history.
 */
export interface LoadedRun {
  view: RunView;
  start: RecordedStart;
}

export async function loadRun(client: Client, workflowId: string, runId?: string): Promise<LoadedRun> {
  const handle = client.workflow.getHandle(workflowId, runId);
  try {
    const view = await loadRunView(client, handle);
    // Pinned to the run the view described, even when a newer run of the id began since.
    const history = await client.workflow.getHandle(workflowId, view.runId).fetchHistory();
    return { view, start: recordedStart(history, workflowId) };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) {
      throw new RunNotFoundError(`No run ${workflowId}${runId === undefined ? '' : ` (run id ${runId})`} on the Temporal server (\`mlp list\` lists the runs)`, { cause: error });
    }
    throw error;
  }
}
