import { z } from 'zod';
import { MODEL_FORMATS } from '../model-registry.ts';
import type { StepKind } from '../step-kind.ts';
import { appliedCalibrationSchema, objectKeySchema, sha256Schema } from './fields.ts';
import { PACKAGED_CODE } from './run.ts';

const input = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lower-case letters, digits and dashes')
      .describe('Registry model name: models/<name>/<version>/'),
    model: objectKeySchema.describe("The model: a train step's model.json key (format tfjs), or any artifact, e.g. a run step's output folder or file"),
    // No default in the schema: publish steps written before this field keep their cache keys.
    format: z
      .enum(MODEL_FORMATS)
      .optional()
      .describe(
        'tfjs (default): a TF.js layers model.json and the shards it lists; onnx: a folder or file with an .onnx model; other: any artifact. onnx and other are copied as they are (a folder with everything under it, or one file) into models/<name>/<version>/model/',
      ),
    metrics: z.record(z.string(), z.number()).describe('Headline metrics, usually ${{ steps.evaluate.outputs.metrics }}'),
    metricsKey: objectKeySchema.optional(),
    report: objectKeySchema.optional(),
    datasetHash: sha256Schema.optional().describe('Lineage: sha256 of the dataset manifest (download step)'),
    manifestHash: sha256Schema.optional().describe('Lineage: sha256 of the subset record naming the split manifests'),
    classes: z.array(z.string().min(1)).min(2).optional().describe('Classes the model predicts, in label order'),
    threshold: z.number().min(0).max(1).optional().describe('Decision threshold, usually ${{ steps.evaluate.outputs.threshold }}; recorded with the version'),
    calibration: appliedCalibrationSchema
      .optional()
      .describe('Calibration fitted by the evaluation, usually ${{ steps.evaluate.outputs.calibration }}; recorded with the version'),
    thresholdScale: z
      .enum(['raw', 'calibrated'])
      .optional()
      .describe(
        "Whether the threshold applies to the model's own probability or the calibrated one, usually ${{ steps.evaluate.outputs.thresholdScale }}; default: what metricsKey's metrics.json says, else calibrated when calibration is given",
      ),
    engine: z.string().min(1).optional().describe('Lineage: training engine, e.g. ${{ steps.train.outputs.engine }}'),
    code: z
      .string()
      .regex(PACKAGED_CODE, 'expected sha256:<64 lower-case hex characters>')
      .optional()
      .describe("Lineage: the user's code that made the model, a run step's packaged code (sha256:<hex>, its resolved with.code)"),
    seed: z.number().int().min(0).optional().describe('Lineage: training seed'),
    promote: z
      .strictObject({
        metric: z.string().min(1).describe('Name in `metrics`, e.g. auc'),
        min: z.number().optional().describe('Promote only at or above this value'),
        mustBeatProduction: z.boolean().default(false).describe('Promote only when better than the current production model'),
      })
      .optional()
      .describe('Promotion gate for the production alias; without it the version is registered but not promoted'),
  })
  .describe('publish inputs');

const output = z.object({
  version: z.number().int().min(1),
  prefix: objectKeySchema.describe('models/<name>/<version>/'),
  promoted: z.boolean(),
  reason: z.string().describe('Why the gate promoted or held the version, in plain words'),
});

/** Registers the model (a train step's, or any artifact) in the registry (monotonic versions) and applies the promotion gate. */
export const publishStep = {
  uses: 'publish',
  activity: 'publishModel',
  // format and code came without a bump: optional fields, absent from every key before.
  version: '1',
  description: 'Registers a model version with lineage in models/<name>/<version>/ and moves aliases through a gate',
  // A re-run registers a new version: its number and the gate's verdict against production differ.
  volatileOutputs: ['version', 'prefix', 'promoted', 'reason'],
  input,
  output,
  artifactInputs: ['model'],
  defaultQueue: 'cpu',
} as const satisfies StepKind<typeof input, typeof output>;

export type PublishInput = z.infer<typeof input>;
export type PublishOutput = z.infer<typeof output>;
