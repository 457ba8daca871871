import { SplitManifestSchema, type SplitManifest } from '../../common/dataset-manifest.ts';
import { EvaluationError } from '../../common/errors.ts';
import type { StepContext } from '../../common/step-activities.ts';
import type { EvaluateInput, EvaluateOutput } from '../../common/step-kinds/evaluate.ts';
import type { ObjectStore } from '../object-store.ts';
import { createBatchPredictor } from './batch-predictor.ts';
import { sampleGridPng } from './plots/sample-grid.ts';
import { predictSplit, type ImagePrediction } from './predict.ts';
import { checkSameClasses, ensureInferenceBackend, loadTrainedModel } from './trained-model.ts';
import { writeEvaluation, type EvaluationHooks, type ScoredSplit } from './write-evaluation.ts';

async function readSplit(store: ObjectStore, key: string): Promise<SplitManifest> {
  const parsed = SplitManifestSchema.safeParse(await store.getJson(key));
  if (!parsed.success) throw new EvaluationError(`Read split manifest failed: ${key} is not a split manifest (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  return parsed.data;
}

/** Up to `count` test predictions, alternating between classes so the grid shows both. */
function pickSamples(predictions: readonly ImagePrediction[], classCount: number, count: number): ImagePrediction[] {
  const byClass = Array.from({ length: classCount }, (_, c) => predictions.filter((p) => p.label === c));
  const picked: ImagePrediction[] = [];
  for (let i = 0; picked.length < count && i < predictions.length; i++) {
    for (const list of byClass) {
      const prediction = list[i];
      if (prediction && picked.length < count) picked.push(prediction);
    }
  }
  return picked;
}


function scoredSplit(split: ScoredSplit['split'], predictions: readonly ImagePrediction[], positiveIndex: number): ScoredSplit {
  return {
    split,
    examples: predictions.map((p) => ({
      identity: { sha256: p.sha256, path: p.path },
      class: p.class,
      positive: p.label === positiveIndex,
      score: p.probabilities[positiveIndex] ?? 0,
    })),
  };
}

/** The model and split manifests a model evaluation reads (the step input, narrowed). */
export interface ModelEvaluationInput {
  model: string;
  testManifest: string;
  valManifest?: string | undefined;
}

/**
 * Evaluates a trained model: runs it over the test split as stored (no augmentation), and over
 * the validation split first when calibration or the threshold is chosen there, then writes
 * the evaluation (write-evaluation.ts) with a grid of sample test images.
 */
export async function evaluateModel(
  store: ObjectStore,
  input: EvaluateInput,
  source: ModelEvaluationInput,
  context: StepContext,
  hooks: EvaluationHooks = {},
): Promise<EvaluateOutput> {
  const backend = await ensureInferenceBackend();
  const trained = await loadTrainedModel(store, source.model, input.classes);
  // The backbone through ONNX Runtime when it converts (features within 1e-4 of tfjs), the head in tfjs.
  const predictor = await createBatchPredictor(trained.model, input.featureEngine ?? 'auto').catch((error: unknown) => {
    trained.model.dispose();
    throw error;
  });
  hooks.onFeatureEngine?.(predictor);
  try {
    const { classes } = trained;
    if (classes.length !== 2) throw new EvaluationError(`Evaluate failed: ${source.model} has ${classes.length} classes; the evaluate step scores binary classifiers`);
    const positiveIndex = classes.indexOf(input.positiveClass);
    if (positiveIndex < 0) throw new EvaluationError(`Evaluate failed: positiveClass '${input.positiveClass}' is not one of the model's classes [${classes.join(', ')}]`);
    const testManifest = await readSplit(store, source.testManifest);
    checkSameClasses(classes, testManifest.classes, source.testManifest);

    const valKey = source.valManifest;
    const validation =
      valKey === undefined
        ? undefined
        : async (): Promise<ScoredSplit> => {
            const manifest = await readSplit(store, valKey);
            checkSameClasses(classes, manifest.classes, valKey);
            const { predictions } = await predictSplit(store, trained, manifest, {
              batchSize: input.batchSize,
              predictor,
              onBatch: (done, total) => hooks.onProgress?.({ phase: 'validation', done, total }),
            });
            // The manifest's own split field travels with the scores.
            return scoredSplit(manifest.split, predictions, positiveIndex);
          };
    // The sample grid needs the test images, which only the test scoring has.
    let tested: Awaited<ReturnType<typeof predictSplit>> | undefined;
    return await writeEvaluation(
      store,
      input,
      context,
      {
        classes,
        positiveIndex,
        validation,
        validationField: 'valManifest',
        test: async () => {
          tested = await predictSplit(store, trained, testManifest, {
            batchSize: input.batchSize,
            predictor,
            onBatch: (done, total) => hooks.onProgress?.({ phase: 'test', done, total }),
          });
          return scoredSplit('test', tested.predictions, positiveIndex);
        },
        unit: { one: 'image', many: 'images' },
        subject: (size) => `model \`${source.model}\`, test split \`${source.testManifest}\` (${size} images, not augmented), tfjs backend \`${backend}\``,
        notes: [],
        metricsSource: { model: source.model, testManifest: source.testManifest, valManifest: source.valManifest ?? null, datasetHash: testManifest.datasetHash },
        metricsRuntime: { backend, featureEngine: predictor.engine, featureDevice: predictor.device, featureEngineSkipped: predictor.skipped },
        samplesPng: async ({ probability, predictedClass }) => {
          if (!tested) throw new EvaluationError('Plot samples failed: the test split was not scored');
          const { predictions: test, pixels } = tested;
          const { width, height } = pixels;
          // Predictions are in manifest order, as the pixels are.
          const grayOf = (p: ImagePrediction) => {
            const index = test.indexOf(p);
            return pixels.pixels.subarray(index * width * height, (index + 1) * width * height);
          };
          const scoreOf = (p: ImagePrediction) => p.probabilities[positiveIndex] ?? 0;
          return sampleGridPng(
            pickSamples(test, classes.length, input.sampleImages).map((p) => ({
              image: { gray: grayOf(p), width, height },
              trueClass: p.class,
              predictedClass: predictedClass(scoreOf(p)),
              probability: probability(scoreOf(p)),
            })),
            input.positiveClass,
          );
        },
      },
      hooks,
    );
  } finally {
    await predictor.close();
    trained.model.dispose();
  }
}
