import { z } from 'zod';
import type { StepKind } from '../step-kind.ts';
import { objectKeySchema } from './fields.ts';

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
    valManifest: objectKeySchema.optional().describe("Needed for threshold: auto (chosen on validation, never on test)"),
    threshold: z
      .union([z.number().min(0).max(1), z.literal('auto')])
      .default(0.5)
      .describe("Probability cut-off for the positive class, or 'auto' (Youden's J on validation)"),
    positiveClass: z.string().min(1).default('PNEUMONIA'),
    histories: z.array(objectKeySchema).default([]).describe('Training histories to plot (partial, full)'),
    sampleImages: z.number().int().min(0).max(100).default(16).describe('Test images in the sample grid plot'),
    batchSize: z.number().int().min(1).default(32),
    sweep: sweepSchema
      .optional()
      .describe("The sweep that chose the model (a train step's outputs.trials and outputs.selectedTrial): the report says which trial won and why, beside a PNG of the metric per trial"),
  })
  .superRefine((value, ctx) => {
    if (value.threshold === 'auto' && value.valManifest === undefined) {
      ctx.addIssue({ code: 'custom', path: ['valManifest'], message: 'threshold: auto needs valManifest' });
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
  thresholdMethod: z.enum(['fixed', 'youden']).describe("fixed: from the pipeline; youden: Youden's J on the validation split"),
  testSize: z.number().int().min(0),
  metricsKey: objectKeySchema.describe('Key of metrics.json (full report, confusion matrix, curves)'),
  predictions: objectKeySchema.describe('Key of predictions.json (probability of every test image)'),
  report: objectKeySchema.describe('Key of report.md'),
  plots: z.record(z.string(), objectKeySchema).describe('PNG keys: curves, confusion, roc, samples (and sweep, with a sweep input)'),
});

/** Scores the model on the un-augmented test split: metrics, plots and a markdown report. */
export const evaluateStep = {
  uses: 'evaluate',
  activity: 'evaluateModel',
  version: '1',
  description: 'Evaluates a model on the test split: metrics, confusion matrix, ROC/PR AUC, plots, report',
  input,
  output,
  artifactInputs: ['model', 'testManifest', 'valManifest', 'histories'],
  artifactOutputs: ['metricsKey', 'predictions', 'report', 'plots'],
  resultsDependOnEngine: true,
  defaultQueue: 'cpu',
} as const satisfies StepKind<typeof input, typeof output>;

export type EvaluateInput = z.infer<typeof input>;
export type EvaluateOutput = z.infer<typeof output>;
