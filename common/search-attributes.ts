/**
 * Custom search attributes this project upserts on pipeline runs. The local stack registers
 * them at server start (`temporal server start-dev --search-attribute`), production registers
 * them once with `temporal operator search-attribute create`.
 */
export const SEARCH_ATTRIBUTES = {
  PipelineName: 'Keyword',
  PipelineStatus: 'Keyword',
  DatasetHash: 'Keyword',
  ModelVersion: 'Keyword',
} as const;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;
