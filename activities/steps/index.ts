import type { StepActivities } from '../../common/step-activities.ts';
import type { ActivityDeps } from '../deps.ts';
import { createDownloadActivity } from './download.ts';
import { createEvaluateActivity } from './evaluate.ts';
import { createNoopActivity } from './noop.ts';
import { createPublishActivity } from './publish.ts';
import { createRunActivity } from './run.ts';
import { createSubsetActivity } from './subset.ts';
import { createTrainActivity } from './train.ts';

/**
 * The activity of every step kind, keyed by the names the kinds declare. `satisfies` fails the
 * type check when a kind in STEP_KINDS (common/step-kinds/index.ts) has no implementation here.
 */
export function createStepActivities(deps: ActivityDeps) {
  return {
    ...createNoopActivity(deps),
    ...createDownloadActivity(deps),
    ...createSubsetActivity(deps),
    ...createTrainActivity(deps),
    ...createEvaluateActivity(deps),
    ...createPublishActivity(deps),
    ...createRunActivity(deps),
  } satisfies StepActivities;
}
