export * from './errors.ts';
export * from './task-queues.ts';
export * from './search-attributes.ts';
export type * from './storage-config.ts';
export type * from './resolved-pipeline.ts';
export type * from './step-kind.ts';
export * from './expressions.ts';
export * from './canonical-json.ts';
export * from './temporal-security.ts';
