// Every workflow the workers register. Only workflow files and `import type` may appear here:
// this file is bundled into Temporal's deterministic sandbox.
export * from './check-storage.ts';
export * from './run-pipeline.ts';
export * from './models.ts';
export * from './storage-gc.ts';
export * from './cache-explain.ts';
export * from './locate-objects.ts';
export * from './run-sweep-trial.ts';
export * from './step-logs.ts';
