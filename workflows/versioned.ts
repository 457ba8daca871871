// The workflows a worker with Worker Versioning on registers (worker/workers.ts): every workflow
// of index.ts, each declared PINNED or AUTO_UPGRADE. Kept apart from index.ts because the server
// refuses a versioning behavior from an unversioned worker (MLP_WORKER_VERSIONING=off, the
// in-process test workers): that bundle must carry no declaration. Bundled into the sandbox.
import { setWorkflowOptions } from '@temporalio/workflow';
import {
  checkStorage,
  describeModel,
  explainCache,
  listModels,
  locateObjects,
  promoteModel,
  pruneStorage,
  readStepLogs,
  runPipeline,
  runStepGroup,
  runSweepTrial,
} from './index.ts';

export * from './index.ts';

// How each workflow moves between builds (docs/production.md, "Upgrading workers while runs are
// open"). The worker's default (PINNED, worker/workers.ts) covers one not declared here.
//
// A run, its sweep trials and its step groups (wide fan-outs, foreach items) are PINNED: they
// finish on the build they started on, activities included, so an open run never replays on
// changed workflow code (no non-determinism failure after a deploy) and every step's code
// fingerprint is the code the run started with. A child runs on its parent's build: a child on
// the same task queue inherits the pinned version.
const PINNED = { versioningBehavior: 'PINNED' } as const;
setWorkflowOptions(PINNED, runPipeline);
setWorkflowOptions(PINNED, runSweepTrial);
setWorkflowOptions(PINNED, runStepGroup);
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
