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

/**
 * Typed keys for `upsertSearchAttributes` and `typedSearchAttributes` (workflow and client).
 * Plain objects of the shape `defineSearchAttributeKey` returns, so common/ stays free of SDK imports.
 */
export const PIPELINE_SEARCH_ATTRIBUTES = {
  PipelineName: { name: 'PipelineName', type: 'KEYWORD' },
  PipelineStatus: { name: 'PipelineStatus', type: 'KEYWORD' },
  DatasetHash: { name: 'DatasetHash', type: 'KEYWORD' },
  ModelVersion: { name: 'ModelVersion', type: 'KEYWORD' },
} as const satisfies { [K in SearchAttributeName]: { name: K; type: 'KEYWORD' } };
