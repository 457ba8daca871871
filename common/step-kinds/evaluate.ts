import { z } from 'zod';
import { FEATURE_ENGINE_PREFERENCES } from '../model-spec.ts';
import type { StepKind } from '../step-kind.ts';
import { appliedCalibrationSchema, objectKeySchema, plattParametersSchema } from './fields.ts';

/** Criteria a threshold can be chosen by on the validation split. */
export const THRESHOLD_CRITERIA = ['youden', 'f1', 'balanced-accuracy', 'sensitivity'] as const;

const probability = z.number().min(0).max(1);

const thresholdRuleSchema = z
  .strictObject({
    criterion: z.enum(THRESHOLD_CRITERIA).describe("youden: sensitivity + specificity − 1; f1: F1 of the positive class; balanced-accuracy; sensitivity: the most specific threshold whose sensitivity is at least `min`"),
    min: probability.optional().describe('Least sensitivity accepted (required for criterion: sensitivity)'),
    tolerance: z
      .number()
      .min(0)
      .optional()
      .describe("How far below the best criterion value a threshold still counts as equally good; default: what one more validation mistake would cost"),
  })
  .superRefine((value, ctx) => {
    if (value.criterion === 'sensitivity' && value.min === undefined) {
      ctx.addIssue({ code: 'custom', path: ['min'], message: 'criterion: sensitivity needs min (the least sensitivity accepted, e.g. 0.95)' });
    }
  })
  .describe('A threshold chosen on validation: the middle of the interval of thresholds equally good by the criterion');

const thresholdSchema = z
  .union([probability, z.literal('auto'), thresholdRuleSchema], {
    error: () => "expected a probability in [0, 1], 'auto', or { criterion: youden | f1 | balanced-accuracy | sensitivity, min?, tolerance? }",
  })
  .default(0.5)
  .describe("Probability cut-off for the positive class, 'auto' (= { criterion: youden }), or { criterion, min?, tolerance? } chosen on validation");

const calibrationSchema = z
  .union([z.enum(['platt', 'none']), plattParametersSchema], {
    error: () => "expected 'platt', 'none', or { method: platt, a, b } (parameters from an earlier evaluation)",
  })
  .optional()
  .describe(
    "Probability calibration: 'platt' fits σ(a·logit(p) + b) on validation; 'none'; or fixed { method: platt, a, b }. Default: platt when the threshold is chosen on validation, none for a fixed number",
  );

export type ThresholdSetting = z.infer<typeof thresholdSchema>;
export type ThresholdRule = z.infer<typeof thresholdRuleSchema>;
export type ThresholdCriterion = (typeof THRESHOLD_CRITERIA)[number];
export type CalibrationSetting = z.infer<typeof calibrationSchema>;

const matrixValue = z.union([z.string(), z.number(), z.boolean()]);

const sweepSchema = z.strictObject({
  trials: z
    .array(
      z.object({
        index: z.number().int().min(0),
        matrix: z.record(z.string(), matrixValue),
        status: z.string(),
        metric: z.number().optional(),
        selected: z.boolean(),
        error: z.string().optional(),
      }),
    )
    .min(1),
  selectedTrial: z
    .object({
      index: z.number().int().min(0),
      matrix: z.record(z.string(), matrixValue),
      metric: z.number().optional(),
      select: z.object({ metric: z.string(), goal: z.enum(['max', 'min']) }).optional(),
    })
    .optional(),
});

const input = z
  .strictObject({
    model: objectKeySchema.describe('Key of the model.json a train step wrote (its folder works too)'),
    testManifest: objectKeySchema.describe('Split manifest of the test images (scored as stored, never augmented)'),
    classes: z
      .array(z.string().min(1))
      .min(2)
      .optional()
      .describe("Classes the model predicts, in label order (usually ${{ steps.train.outputs.classes }}); default: model.json userDefinedMetadata.classes. Must equal the manifests' classes"),
    valManifest: objectKeySchema.optional().describe('Needed for a threshold chosen on validation and for calibration: platt (never fitted on test)'),
    threshold: thresholdSchema,
    calibration: calibrationSchema,
    positiveClass: z.string().min(1).default('PNEUMONIA'),
    histories: z.array(objectKeySchema).default([]).describe('Training histories to plot (partial, full)'),
    sampleImages: z.number().int().min(0).max(100).default(16).describe('Test images in the sample grid plot'),
    batchSize: z.number().int().min(1).default(32),
    // Its default is one of the kind's unrecordedDefaults: evaluate steps written before the field keep their cache keys.
    featureEngine: z
      .enum(FEATURE_ENGINE_PREFERENCES)
      .default('auto')
      .describe(
        "What runs the model's frozen backbone (the head runs in tfjs): onnxruntime, tfjs (the whole model in tfjs), or auto (default): ONNX Runtime when the backbone converts and the runtime loads; metrics.json says which ran and why",
      ),
    sweep: sweepSchema
      .optional()
      .describe("The sweep that chose the model (a train step's outputs.trials and outputs.selectedTrial): the report says which trial won and why, beside a PNG of the metric per trial"),
  })
  .superRefine((value, ctx) => {
    if (value.valManifest !== undefined) return;
    if (typeof value.threshold !== 'number') {
      const named = value.threshold === 'auto' ? 'auto' : `{ criterion: ${value.threshold.criterion} }`;
      ctx.addIssue({ code: 'custom', path: ['valManifest'], message: `threshold: ${named} needs valManifest (the threshold is chosen on validation)` });
    } else if (value.calibration === 'platt') {
      ctx.addIssue({ code: 'custom', path: ['valManifest'], message: 'calibration: platt needs valManifest (fitted on validation)' });
    }
  })
  .describe('evaluate inputs');

const metricsSchema = z
  .object({
    accuracy: z.number(),
    precision: z.number(),
    recall: z.number(),
    f1: z.number(),
    sensitivity: z.number(),
    specificity: z.number(),
    auc: z.number(),
    prAuc: z.number(),
    logLoss: z.number(),
  })
  .describe('Headline metrics for the positive class');

const output = z.object({
  metrics: metricsSchema,
  threshold: z.number().min(0).max(1),
  thresholdMethod: z.enum(['fixed', ...THRESHOLD_CRITERIA]).describe('fixed: from the pipeline; else the criterion it was chosen by on the validation split'),
  thresholdScale: z.enum(['raw', 'calibrated']).describe('Whether `threshold` applies to the calibrated probability or the model output'),
  thresholdInterval: z
    .object({ low: z.number(), high: z.number() })
    .optional()
    .describe('Thresholds t with low < t ≤ high were equally good on validation; `threshold` is the middle'),
  calibration: appliedCalibrationSchema.describe('Calibration applied before the threshold: give it to a later evaluate step or read it from the registered metrics.json'),
  calibrationMetrics: z
    .object({
      bins: z.number().int(),
      test: z.object({ ece: z.number(), brier: z.number() }),
      validation: z.object({ ece: z.number(), brier: z.number() }).optional(),
    })
    .describe('Expected calibration error (equal-width bins) and Brier score of the probabilities the threshold applies to'),
  testSize: z.number().int().min(0),
  metricsKey: objectKeySchema.describe('Key of metrics.json (full report, confusion matrix, curves)'),
  predictions: objectKeySchema.describe('Key of predictions.json (probability of every test image)'),
  report: objectKeySchema.describe('Key of report.md'),
  plots: z.record(z.string(), objectKeySchema).describe('PNG keys: curves, confusion, roc, samples, reliability (and sweep, with a sweep input)'),
});

/** Scores the model on the un-augmented test split: metrics, plots and a markdown report. */
export const evaluateStep = {
  uses: 'evaluate',
  activity: 'evaluateModel',
  // 2: calibration, and auto takes the middle of the equally good thresholds (was the highest).
  version: '2',
  description: 'Evaluates a model on the test split: metrics, confusion matrix, ROC/PR AUC, plots, report',
  input,
  output,
  artifactInputs: ['model', 'testManifest', 'valManifest', 'histories'],
  artifactOutputs: ['metricsKey', 'predictions', 'report', 'plots'],
  unrecordedDefaults: ['featureEngine'],
  resultsDependOnEngine: true,
  defaultQueue: 'cpu',
} as const satisfies StepKind<typeof input, typeof output>;

export type EvaluateInput = z.infer<typeof input>;
export type EvaluateOutput = z.infer<typeof output>;
