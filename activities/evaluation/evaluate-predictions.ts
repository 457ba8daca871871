import type { StepContext } from '../../common/step-activities.ts';
import type { EvaluateInput, EvaluateOutput } from '../../common/step-kinds/evaluate.ts';
import type { ObjectStore } from '../object-store.ts';
import { checkLabels, parsePredictionsCsv, predictionClasses, type PredictionRow } from './predictions-csv.ts';
import { needsValidation, writeEvaluation, type EvaluationHooks, type ScoredSplit } from './write-evaluation.ts';

/** The predictions files a predictions evaluation reads (the step input, narrowed). */
export interface PredictionsEvaluationInput {
  predictions: string;
  valPredictions?: string | undefined;
}

/** A predictions file's rows as scored examples of a split: positive when the label is the positive class. */
export function scoredSplitOf(rows: readonly PredictionRow[], split: ScoredSplit['split'], positiveClass: string): ScoredSplit {
  return { split, examples: rows.map((row) => ({ identity: { id: row.id }, class: row.label, positive: row.label === positiveClass, score: row.score })) };
}

async function readRows(store: ObjectStore, key: string): Promise<PredictionRow[]> {
  return parsePredictionsCsv((await store.get(key)).toString('utf8'), key);
}

/**
 * Evaluates predictions made elsewhere (a `run` step's model, or any model): the same
 * calibration, threshold rules, metrics, plots and report as for a model, from CSV files of
 * `id,label,score`. There are no images, so no sample grid; the report says so. The classes are
 * `classes` when given, else the positive class and the one other label of the first file
 * read (validation when it is needed, else test); a label outside them is an error naming its
 * file and line.
 */
export async function evaluatePredictions(
  store: ObjectStore,
  input: EvaluateInput,
  source: PredictionsEvaluationInput,
  context: StepContext,
  hooks: EvaluationHooks = {},
): Promise<EvaluateOutput> {
  let classes: string[] | undefined;
  const scored = async (key: string, split: ScoredSplit['split'], phase: 'validation' | 'test'): Promise<ScoredSplit> => {
    const rows = await readRows(store, key);
    classes ??= predictionClasses(rows, key, input.positiveClass, input.classes);
    checkLabels(rows, key, classes, input.classes === undefined);
    await hooks.onProgress?.({ phase, done: rows.length, total: rows.length });
    return scoredSplitOf(rows, split, input.positiveClass);
  };
  // The first file read settles the classes, so it is read before writeEvaluation starts:
  // validation when it is needed (it always comes before test), else test.
  const valKey = source.valPredictions;
  const validationSplit = needsValidation(input) && valKey !== undefined ? await scored(valKey, 'val', 'validation') : undefined;
  const testSplit = validationSplit === undefined ? await scored(source.predictions, 'test', 'test') : undefined;
  if (classes === undefined) throw new Error('Evaluate predictions failed: no file was read');
  return writeEvaluation(
    store,
    input,
    context,
    {
      classes,
      positiveIndex: classes.indexOf(input.positiveClass),
      validation: valKey === undefined ? undefined : async () => validationSplit ?? scored(valKey, 'val', 'validation'),
      validationField: 'valPredictions',
      test: async () => testSplit ?? scored(source.predictions, 'test', 'test'),
      unit: { one: 'row', many: 'rows' },
      subject: (size) =>
        `predictions \`${source.predictions}\` (${size} rows)${valKey === undefined ? '' : `, validation predictions \`${valKey}\``}: scores made outside this step, evaluated as given`,
      notes: ['No sample-images grid: a predictions file carries scores, not images. The other plots and every metric are computed as for a model.'],
      metricsSource: { predictions: source.predictions, valPredictions: valKey ?? null },
      metricsRuntime: {},
    },
    hooks,
  );
}
