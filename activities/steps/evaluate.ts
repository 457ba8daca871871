import { evaluateStep } from '../../common/step-kinds/evaluate.ts';
import { evaluate } from '../evaluation/evaluate.ts';
import { defineStep } from './define-step.ts';

/** The `evaluate` step: scores the model on the test split, or predictions CSVs, and writes metrics, plots and a report (activities/evaluation/). */
export const createEvaluateActivity = defineStep(evaluateStep, ({ store }) => async ({ input, context, heartbeat, log }) => {
  const output = await evaluate(store, input, context, {
    onProgress: heartbeat,
    onFeatureEngine: ({ engine, device, skipped }) => log.info('Feature engine selected', { stepId: context.stepId, featureEngine: engine, featureDevice: device, skipped }),
  });
  // The warning is in the outputs and the report too; the log is where an operator watching a nightly run sees it.
  if (output.shiftWarning) {
    log.warn('Class prior shift', { stepId: context.stepId, estimatedPrevalence: output.estimatedPrevalence, validationPrevalence: output.validationPrevalence, warning: output.shiftWarning });
  }
  return output;
});
