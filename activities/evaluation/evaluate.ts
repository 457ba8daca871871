import { EvaluationError } from '../../common/errors.ts';
import type { StepContext } from '../../common/step-activities.ts';
import type { EvaluateInput, EvaluateOutput } from '../../common/step-kinds/evaluate.ts';
import type { ObjectStore } from '../object-store.ts';
import { evaluateModel } from './evaluate-model.ts';
import { evaluatePredictions } from './evaluate-predictions.ts';
import type { EvaluationHooks } from './write-evaluation.ts';

/**
 * The evaluate step: scores a model on the test split (evaluate-model.ts), or predictions CSVs
 * a model made elsewhere (evaluate-predictions.ts), and writes the same metrics, plots and
 * report either way (write-evaluation.ts).
 */
export async function evaluate(store: ObjectStore, input: EvaluateInput, context: StepContext, hooks: EvaluationHooks = {}): Promise<EvaluateOutput> {
  if (input.predictions !== undefined) {
    return evaluatePredictions(store, input, { predictions: input.predictions, valPredictions: input.valPredictions }, context, hooks);
  }
  // The schema asks for one of the two; this says so again where the types cannot see it.
  if (input.model === undefined || input.testManifest === undefined) throw new EvaluationError('Evaluate failed: the step needs model and testManifest, or predictions');
  return evaluateModel(store, input, { model: input.model, testManifest: input.testManifest, valManifest: input.valManifest }, context, hooks);
}
