import { evaluateStep } from '../../common/step-kinds/evaluate.ts';
import { evaluate } from '../evaluation/evaluate.ts';
import { defineStep } from './define-step.ts';

/** The `evaluate` step: scores the model on the test split, or predictions CSVs, and writes metrics, plots and a report (activities/evaluation/). */
export const createEvaluateActivity = defineStep(evaluateStep, ({ store }) => async ({ input, context, heartbeat, log }) =>
  evaluate(store, input, context, {
    onProgress: heartbeat,
    onFeatureEngine: ({ engine, device, skipped }) => log.info('Backbone inference engine selected', { stepId: context.stepId, featureEngine: engine, featureDevice: device, skipped }),
  }),
);
