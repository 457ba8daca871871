export * from './schema.ts';
export * from './issues.ts';
export * from './graph-rules.ts';
export * from './input-check.ts';
export * from './resolve.ts';
export * from './plan.ts';
export * from './json-schema.ts';
export * from './sweep-check.ts';
