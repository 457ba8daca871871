import { trainStep } from '../../common/step-kinds/train.ts';
import type { ActivityDeps } from '../deps.ts';
import { selectEngine, type TrainingEngine } from '../engine/engine.ts';
import { runTrainStep } from '../training/train-step.ts';
import { defineStep } from './define-step.ts';

/** The engine a process trains on: the worker's (selected once at start), or `auto` chosen on first use. */
function engineGetter(deps: ActivityDeps): () => Promise<TrainingEngine> {
  if (deps.engine) return deps.engine;
  let selected: Promise<TrainingEngine> | undefined;
  return () => (selected ??= selectEngine('auto'));
}

/**
 * The `train` step: builds or warm-starts the model and trains it, resumable per epoch
 * (activities/training/). Heartbeats repeat while it loads data or extracts features, so a
 * short heartbeat timeout catches a dead worker but not a busy one.
 */
export const createTrainActivity = defineStep(
  trainStep,
  (deps) => {
    const engine = engineGetter(deps);
    return async ({ input, context, log, heartbeat, signal }) => ({
      ...(await runTrainStep(input, context, { store: deps.store, engine: await engine(), log, heartbeat, signal })),
    });
  },
  { repeatHeartbeat: true },
);
