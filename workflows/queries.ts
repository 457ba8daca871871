import { defineQuery } from '@temporalio/workflow';
import { PIPELINE_PROGRESS_QUERY, type PipelineProgress } from '../common/pipeline-progress.ts';

/** Each step's state, times, cache flag and outputs (see common/pipeline-progress.ts). */
export const pipelineProgressQuery = defineQuery<PipelineProgress>(PIPELINE_PROGRESS_QUERY);
