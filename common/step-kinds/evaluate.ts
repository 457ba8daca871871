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
    scale: z
      .enum(['raw', 'calibrated'])
      .optional()
      .describe("Which probability the threshold is chosen on and applies to: raw (default), the model's own; calibrated, the Platt-calibrated one (needs calibration)"),
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
  .describe(
    "Probability cut-off for the positive class, 'auto' (0.5 on the model's own probability unless Youden's best validation threshold beats it in 95 % of 1,000 bootstrap resamples of validation; when the test split's prior estimated from its scores is more than shiftMargin from validation's, the Bayes cut for that estimate instead), or { criterion, min?, tolerance?, scale? } chosen on validation",
  );

const calibrationSchema = z
  .union([z.enum(['platt', 'none']), plattParametersSchema], {
    error: () => "expected 'platt', 'none', or { method: platt, a, b } (parameters from an earlier evaluation)",
  })
  .optional()
  .describe(
    "Probability calibration: 'platt' fits σ(a·logit(p) + b) on validation; 'none'; or fixed { method: platt, a, b }. Default: platt when the threshold is chosen on validation, none for a fixed number. Reported and recorded; the threshold applies to it only for a fixed number or scale: calibrated",
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
    model: objectKeySchema.optional().describe('Key of the model.json a train step wrote (its folder works too); with testManifest. Or give predictions instead'),
    testManifest: objectKeySchema.optional().describe('Split manifest of the test images (scored as stored, never augmented); with model'),
    valManifest: objectKeySchema.optional().describe('With model: needed for a threshold chosen on validation and for calibration: platt (never fitted on test)'),
    predictions: objectKeySchema
      .optional()
      .describe(
        "In place of model + testManifest: key of a CSV of test predictions made elsewhere (e.g. ${{ steps.fit.outputs.predictions }} of a run step). Header id,label,score (other columns ignored, no quoting); label: the true class name; score: the probability of positiveClass, in [0, 1]; ids unique",
      ),
    valPredictions: objectKeySchema
      .optional()
      .describe('With predictions: the validation predictions CSV (same columns), needed for a threshold chosen on validation and for calibration: platt (never fitted on test)'),
    classes: z
      .array(z.string().min(1))
      .min(2)
      .optional()
      .describe(
        "With model: the classes the model predicts, in label order (usually ${{ steps.train.outputs.classes }}); default: model.json userDefinedMetadata.classes; must equal the manifests' classes. With predictions: the two class names the labels may take, in report order; default: the one label other than positiveClass in the first file read, then positiveClass",
      ),
    threshold: thresholdSchema,
    calibration: calibrationSchema,
    positiveClass: z.string().min(1).default('PNEUMONIA'),
    // No schema default: a default would be written into every resolved step and change the
    // cache keys of steps written before the field (test/unit/evaluate-cache-key.test.ts).
    shiftMargin: z
      .number()
      .gt(0)
      .lt(1)
      .optional()
      .describe('Warn when the test split\'s positive-class share estimated from the scores differs from validation\'s by more than this (default 0.1)'),
    // No schema default either (same reason): unset means adapt, as before the field.
    adaptThresholdToShift: z
      .boolean()
      .optional()
      .describe(
        "threshold: auto only. false keeps auto at the guarded rule when the shift warning fires (the warning and the estimate stay; priorAdjustment says what the prior-adjusted cut would have been), for a model whose users see validation's class mix; default true: re-target to the test split's estimated prior",
      ),
    histories: z.array(objectKeySchema).default([]).describe('Training histories to plot (partial, full)'),
    sampleImages: z.number().int().min(0).max(100).default(16).describe('Test images in the sample grid plot'),
    batchSize: z.number().int().min(1).default(32),
    // Its default is one of the kind's unrecordedDefaults: evaluate steps written before the field keep their cache keys.
    featureEngine: z
      .enum(FEATURE_ENGINE_PREFERENCES)
      .default('auto')
      .describe(
        "What runs the model's frozen backbone (the head runs in tfjs): onnxruntime, tfjs (the whole model in tfjs), or auto (default): ONNX Runtime when the backbone converts and the runtime loads; metrics.json says which ran and why. Ignored with predictions",
      ),
    sweep: sweepSchema
      .optional()
      .describe("The sweep that chose the model (a train step's outputs.trials and outputs.selectedTrial): the report says which trial won and why, beside a PNG of the metric per trial"),
  })
  .superRefine((value, ctx) => {
    const fromPredictions = value.predictions !== undefined || value.valPredictions !== undefined;
    if (fromPredictions) {
      // featureEngine is not among them: it has a default (applied whatever the source), and with
      // predictions there is no backbone for it to run, so it is ignored.
      for (const field of ['model', 'testManifest', 'valManifest'] as const) {
        if (value[field] !== undefined) {
          ctx.addIssue({ code: 'custom', path: [field], message: `${field} goes with a model; predictions are scores made elsewhere: give model + testManifest or predictions, not both` });
        }
      }
      if (value.predictions === undefined) ctx.addIssue({ code: 'custom', path: ['predictions'], message: 'valPredictions needs predictions (the test predictions CSV)' });
    } else if (value.model === undefined) {
      ctx.addIssue({ code: 'custom', path: ['model'], message: 'evaluate needs model + testManifest (a trained model and its test split) or predictions (a CSV of id,label,score)' });
    } else if (value.testManifest === undefined) {
      ctx.addIssue({ code: 'custom', path: ['testManifest'], message: 'model needs testManifest (the split manifest of the test images)' });
    }
    if (typeof value.threshold === 'object' && value.threshold.scale === 'calibrated' && value.calibration === 'none') {
      ctx.addIssue({ code: 'custom', path: ['threshold', 'scale'], message: 'scale: calibrated needs calibration (platt, or { method: platt, a, b }), but calibration is none' });
    }
    if (value.adaptThresholdToShift !== undefined && value.threshold !== 'auto') {
      const named = typeof value.threshold === 'number' ? String(value.threshold) : `{ criterion: ${value.threshold.criterion} }`;
      ctx.addIssue({
        code: 'custom',
        path: ['adaptThresholdToShift'],
        message: `adaptThresholdToShift applies only to threshold: auto (the only threshold re-targeted to a shifted test prior), but threshold is ${named}: remove adaptThresholdToShift or use threshold: auto`,
      });
    }
    const validationField = fromPredictions ? 'valPredictions' : 'valManifest';
    if (value[validationField] !== undefined) return;
    if (typeof value.threshold !== 'number') {
      const named = value.threshold === 'auto' ? 'auto' : `{ criterion: ${value.threshold.criterion} }`;
      ctx.addIssue({ code: 'custom', path: [validationField], message: `threshold: ${named} needs ${validationField} (the threshold is chosen on validation)` });
    } else if (value.calibration === 'platt') {
      ctx.addIssue({ code: 'custom', path: [validationField], message: `calibration: platt needs ${validationField} (fitted on validation)` });
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
  thresholdMethod: z
    .enum(['fixed', 'default', 'prior-adjusted', ...THRESHOLD_CRITERIA])
    .describe(
      "fixed: from the pipeline; default: auto kept 0.5 on the model's own probability; prior-adjusted: auto re-targeted to the test split's prior estimated from its scores (see priorAdjustment); else the criterion it was chosen by on the validation split",
    ),
  thresholdDecision: z
    .object({
      criterion: z.string(),
      defaultThreshold: z.number(),
      challengerThreshold: z.number(),
      winRate: z.number(),
      required: z.number(),
      resamples: z.number().int(),
      defaultInterval: z.object({ low: z.number(), high: z.number() }),
      challengerInterval: z.object({ low: z.number(), high: z.number() }),
      moved: z.boolean(),
    })
    .optional()
    .describe("auto only: the bootstrap guard's decision (win rate of the criterion's best validation threshold over 0.5, and the criterion's 95 % interval at each)"),
  priorAdjustment: z
    .object({
      validationPrevalence: z.number(),
      estimatedPrevalence: z.number(),
      calibratedThreshold: z.number(),
      guardedThreshold: z.number(),
      guardedMethod: z.string(),
      // Optional: outputs of evaluations before adaptThresholdToShift lack them (there it was always applied).
      applied: z.boolean().optional().describe('false: adaptThresholdToShift: false kept the guarded threshold and this cut was only reported'),
      thresholdOnModelScale: z.number().optional().describe("The prior-adjusted cut on the model's own probability (the threshold when applied)"),
    })
    .optional()
    .describe(
      "thresholdMethod prior-adjusted, or auto with adaptThresholdToShift: false on a shifted test split (applied: false; the threshold is then guardedThreshold): the calibrated posterior re-weighted from validationPrevalence to estimatedPrevalence (from the test split's unlabeled scores) and cut at 0.5, i.e. calibratedThreshold on the calibrated probability (thresholdOnModelScale on the model's own); guardedThreshold is what the guarded rule alone chose",
    ),
  thresholdScale: z.enum(['raw', 'calibrated']).describe('Whether `threshold` applies to the calibrated probability or the model output'),
  thresholdInterval: z
    .object({ low: z.number(), high: z.number() })
    .optional()
    .describe('Thresholds t with low < t ≤ high were equally good on validation; `threshold` is the middle'),
  calibration: appliedCalibrationSchema.describe(
    'Calibration fitted (or given): applied before the threshold when thresholdScale is calibrated; give it to a later evaluate step or read it from the registered metrics.json',
  ),
  calibrationMetrics: z
    .object({
      bins: z.number().int(),
      test: z.object({ ece: z.number(), brier: z.number() }),
      validation: z.object({ ece: z.number(), brier: z.number() }).optional(),
    })
    .describe('Expected calibration error (equal-width bins) and Brier score of the calibrated probabilities when calibration is fitted or given, else of the model output'),
  estimatedPrevalence: z
    .number()
    .optional()
    .describe("Share of positiveClass on the test split estimated from the model's scores alone (EM, Saerens et al. 2002); with validation data"),
  validationPrevalence: z.number().optional().describe('Share of positiveClass on the validation split'),
  shiftWarning: z.string().optional().describe('Set when estimatedPrevalence differs from validationPrevalence by more than shiftMargin'),
  testSize: z.number().int().min(0),
  metricsKey: objectKeySchema.describe('Key of metrics.json (full report, confusion matrix, curves)'),
  predictions: objectKeySchema.describe('Key of predictions.json (probability of every test image or predictions row)'),
  report: objectKeySchema.describe('Key of report.md'),
  plots: z.record(z.string(), objectKeySchema).describe('PNG keys: curves, confusion, roc, reliability, samples (with a model: predictions have no images), and sweep with a sweep input'),
});

/** Scores the model on the un-augmented test split, or predictions made elsewhere: metrics, plots and a markdown report. */
export const evaluateStep = {
  uses: 'evaluate',
  activity: 'evaluateModel',
  // 2: calibration, and auto takes the middle of the equally good thresholds (was the highest).
  // predictions/valPredictions came without a bump: optional fields, absent from every key before.
  // 3: auto is 0.5 on the model's own probability unless a bootstrap says Youden's best beats it;
  // criteria choose on the model's own probability unless scale: calibrated; prior shift estimate.
  version: '3',
  description: 'Evaluates a model on the test split, or predictions CSVs: metrics, confusion matrix, ROC/PR AUC, calibration, threshold, plots, report',
  input,
  output,
  artifactInputs: ['model', 'testManifest', 'valManifest', 'predictions', 'valPredictions', 'histories'],
  artifactOutputs: ['metricsKey', 'predictions', 'report', 'plots'],
  unrecordedDefaults: ['featureEngine'],
  resultsDependOnEngine: true,
  defaultQueue: 'cpu',
} as const satisfies StepKind<typeof input, typeof output>;

export type EvaluateInput = z.infer<typeof input>;
export type EvaluateOutput = z.infer<typeof output>;
