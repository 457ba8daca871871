import { trainStep } from '../../common/step-kinds/train.ts';
import type { ActivityDeps } from '../deps.ts';
import { selectEngine, type TrainingEngine } from '../engine/engine.ts';
import { runTrainStep } from '../training/train-step.ts';
import { MlflowClient } from '../tracking/mlflow-client.ts';
import { epochMetricsLogger } from '../tracking/epoch-metrics.ts';
import { defineStep } from './define-step.ts';
import { HEARTBEAT_EVERY_MS, type HeartbeatThrottleOptions } from './heartbeat-throttle.ts';

/** The engine a process trains on: the worker's (selected once at start), or `auto` chosen on first use. */
function engineGetter(deps: ActivityDeps): () => Promise<TrainingEngine> {
  if (deps.engine) return deps.engine;
  let selected: Promise<TrainingEngine> | undefined;
  return () => (selected ??= selectEngine('auto'));
}

/**
 * How a train step heartbeats: every batch and epoch report goes straight to the SDK, whose own
 * throttle runs on the worker's core thread and so still sends while training keeps the
 * JavaScript event loop busy; the latest report repeats every second through quiet phases
 * (loading data), so a short heartbeat timeout catches a dead worker but not a busy one.
 */
export const TRAIN_HEARTBEAT = { everyMs: 0, repeatMs: HEARTBEAT_EVERY_MS } as const satisfies HeartbeatThrottleOptions;

/** The `train` step: builds or warm-starts the model and trains it, resumable per epoch (activities/training/). */
export const createTrainActivity = defineStep(
  trainStep,
  (deps) => {
    const engine = engineGetter(deps);
    return async ({ input, context, log, heartbeat, signal }) => {
      // A tracked run (`tracking.mlflow`): each epoch's metrics go to MLflow as the epoch ends.
      const onEpoch =
        context.tracking !== undefined && deps.mlflow !== undefined
          ? epochMetricsLogger({ client: new MlflowClient(deps.mlflow), tracking: context.tracking, stepId: context.stepId, log })
          : undefined;
      return { ...(await runTrainStep(input, context, { store: deps.store, engine: await engine(), log, heartbeat, signal, scratchDir: deps.scratchDir, ...(onEpoch ? { onEpoch } : {}) })) };
    };
  },
  { heartbeat: TRAIN_HEARTBEAT },
);
