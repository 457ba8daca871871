// Every workflow the workers register. Only workflow files and `import type` may appear here:
// this file is bundled into Temporal's deterministic sandbox.
import { setWorkflowOptions } from '@temporalio/workflow';
import { checkStorage } from './check-storage.ts';
import { runPipeline } from './run-pipeline.ts';
import { describeModel, listModels, promoteModel } from './models.ts';
import { pruneStorage } from './storage-gc.ts';
import { explainCache } from './cache-explain.ts';
import { locateObjects } from './locate-objects.ts';
import { runSweepTrial } from './run-sweep-trial.ts';
import { readStepLogs } from './step-logs.ts';

export * from './check-storage.ts';
export * from './run-pipeline.ts';
export * from './models.ts';
export * from './storage-gc.ts';
export * from './cache-explain.ts';
export * from './locate-objects.ts';
export * from './run-sweep-trial.ts';
export * from './step-logs.ts';

// Worker Versioning (docs/production.md, "Upgrading workers"): how each workflow moves between
// builds of a worker deployment. Declared here, next to the list, so a new workflow is decided on
// when it is registered; the worker's default (PINNED, worker/workers.ts) covers one that is not.
//
// A run and its sweep trials are PINNED: they finish on the build they started on, activities
// included, so an open run never replays on changed workflow code (no non-determinism failure
// after a deploy) and every step's code fingerprint is the code the run started with. A trial
// runs on its parent's build: a child on the same task queue inherits the pinned version.
setWorkflowOptions({ versioningBehavior: 'PINNED' }, runPipeline);
setWorkflowOptions({ versioningBehavior: 'PINNED' }, runSweepTrial);
// Helpers last seconds, carry no step results and are started by the CLI against whatever build
// is current: AUTO_UPGRADE lets them run on the newest build and never hold an old one up.
const AUTO_UPGRADE = { versioningBehavior: 'AUTO_UPGRADE' } as const;
setWorkflowOptions(AUTO_UPGRADE, checkStorage);
setWorkflowOptions(AUTO_UPGRADE, listModels);
setWorkflowOptions(AUTO_UPGRADE, describeModel);
setWorkflowOptions(AUTO_UPGRADE, promoteModel);
setWorkflowOptions(AUTO_UPGRADE, pruneStorage);
setWorkflowOptions(AUTO_UPGRADE, explainCache);
setWorkflowOptions(AUTO_UPGRADE, locateObjects);
setWorkflowOptions(AUTO_UPGRADE, readStepLogs);
