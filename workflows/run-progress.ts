import { setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { PipelineProgress, RunState } from '../common/pipeline-progress.ts';
import { reducePipelineProgress, startPipelineProgress, type PipelineProgressEvent, type RunStarted } from '../common/pipeline-progress-reducer.ts';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../common/search-attributes.ts';
import { renderCurrentDetails } from './details.ts';
import { pipelineProgressQuery } from './queries.ts';

/**
 * Where a running workflow's progress events go: the common reducer folds them, the
 * `pipelineProgress` query answers with the result, the Temporal UI's current details show it,
 * and the `PipelineStatus` search attribute follows the run's state.
 */
export interface RunProgressRecorder {
  record(event: PipelineProgressEvent): void;
  /** Several events, published once (a group of steps starting or ending together). */
  recordAll(events: readonly PipelineProgressEvent[]): void;
  /** The progress so far (what the query answers). */
  current(): PipelineProgress;
}

/**
 * Starts recording: registers the query and upserts `PipelineStatus=running` (a workflow
 * command, so it is issued where the recorded histories expect it: after the memo and the
 * `PipelineName` attribute).
 */
export function recordRunProgress(start: RunStarted): RunProgressRecorder {
  let progress: PipelineProgress = startPipelineProgress(start);
  setHandler(pipelineProgressQuery, () => progress);
  const publish = (previousState: RunState | undefined): void => {
    if (progress.state !== previousState) upsertSearchAttributes([{ key: PIPELINE_SEARCH_ATTRIBUTES.PipelineStatus, value: progress.state }]);
    setCurrentDetails(renderCurrentDetails(progress));
  };
  publish(undefined);
  return {
    record(event) {
      const previousState = progress.state;
      progress = reducePipelineProgress(progress, event);
      publish(previousState);
    },
    recordAll(events) {
      const previousState = progress.state;
      for (const event of events) progress = reducePipelineProgress(progress, event);
      publish(previousState);
    },
    current: () => progress,
  };
}
