import { z } from 'zod';
import { appliedCalibrationSchema } from './step-kinds/fields.ts';

/**
 * The model registry's object layout and the results of the registry workflows (shared by the
 * activities that write it and the CLI that prints it) (docs/model-registry.md):
 *
 * - `models/<name>/versions/<n>.claim`: written once with a conditional PUT (`If-None-Match: *`)
 *   to own version n; the S3 server lets exactly one writer create it.
 * - `models/<name>/<n>/model/…`: the model files, copied from the run: model.json + weight shards
 *   (format tfjs), or the artifact folder (or single file) as it was (onnx, other).
 * - `models/<name>/<n>/metrics.json`, `report.md`: copies of the evaluation's, when given.
 * - `models/<name>/<n>/record.json`: metrics, lineage and the gate's decision. Written after the
 *   files, so a version with a record is complete; versions are never rewritten.
 * - `models/<name>/aliases/latest.json`, `production.json`: one small JSON each, replaced by a
 *   single PUT (atomic), pointing at a version.
 */

export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;
export const ALIASES = ['latest', 'production'] as const;

/**
 * What a registered model's files are: `tfjs` (a TF.js layers model.json and its shards, what
 * train writes), `onnx` (a folder or file holding an .onnx model), `other` (any artifact, e.g. a
 * `run` step's model folder, copied as it is).
 */
export const MODEL_FORMATS = ['tfjs', 'onnx', 'other'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];
export type AliasName = (typeof ALIASES)[number];

export const registryKeys = {
  root: 'models/',
  model: (name: string): string => `models/${name}/`,
  claims: (name: string): string => `models/${name}/versions/`,
  claim: (name: string, version: number): string => `models/${name}/versions/${version}.claim`,
  version: (name: string, version: number): string => `models/${name}/${version}/`,
  record: (name: string, version: number): string => `models/${name}/${version}/record.json`,
  alias: (name: string, alias: AliasName): string => `models/${name}/aliases/${alias}.json`,
};

/** Who claimed a version: the publishing step's run, so a retried attempt finds its own claim. */
export const ClaimSchema = z.object({ owner: z.string().min(1), claimedAt: z.string() });
export type Claim = z.infer<typeof ClaimSchema>;

export const LineageSchema = z.object({
  pipeline: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  stepId: z.string(),
  specHash: z.string().optional(),
  datasetHash: z.string().optional(),
  manifestHash: z.string().optional(),
  engine: z.string().optional(),
  seed: z.number().int().optional(),
  codeVersion: z.string().optional(),
  /** The user's code that made the model: a `run` step's packaged code, `sha256:<hex>`. */
  code: z.string().optional(),
  /** Where the model files were copied from (the train step's model key, or a run step's artifact). */
  sourceModel: z.string(),
});
export type Lineage = z.infer<typeof LineageSchema>;

export const PromotionDecisionSchema = z.object({
  promoted: z.boolean(),
  reason: z.string(),
});
export type PromotionDecision = z.infer<typeof PromotionDecisionSchema>;

export const VersionRecordSchema = z.object({
  name: z.string(),
  version: z.number().int().min(1),
  createdAt: z.string(),
  /** Prefix of the copied model (`models/<name>/<n>/model`), loadable as `s3://<prefix>`. */
  model: z.string(),
  /** What the files are; absent in versions registered before formats (all tfjs). */
  format: z.enum(MODEL_FORMATS).optional(),
  files: z.array(z.string()),
  classes: z.array(z.string()).optional(),
  /**
   * How to turn the model's probability into a decision: compare it with the threshold, after
   * calibrating it when `thresholdScale` is calibrated. Records written before the field (issue
   * 27) lack it: their threshold applies after calibration when calibration is given.
   */
  threshold: z.number().optional(),
  thresholdScale: z.enum(['raw', 'calibrated']).optional(),
  calibration: appliedCalibrationSchema.optional(),
  metrics: z.record(z.string(), z.number()),
  metricsKey: z.string().optional(),
  report: z.string().optional(),
  lineage: LineageSchema,
  gate: z
    .object({ metric: z.string(), min: z.number().optional(), mustBeatProduction: z.boolean() })
    .optional(),
  decision: PromotionDecisionSchema,
});
export type VersionRecord = z.infer<typeof VersionRecordSchema>;

export const AliasSchema = z.object({
  alias: z.enum(ALIASES),
  version: z.number().int().min(1),
  updatedAt: z.string(),
  reason: z.string(),
  previousVersion: z.number().int().min(1).nullable(),
});
export type Alias = z.infer<typeof AliasSchema>;

/** One line of `mlp models list`. */
export const ModelSummarySchema = z.object({
  name: z.string(),
  versions: z.number().int().min(0),
  latest: z.number().int().nullable(),
  production: z.number().int().nullable(),
});
export type ModelSummary = z.infer<typeof ModelSummarySchema>;

/** One version in `mlp models show <name>`. */
export const VersionSummarySchema = z.object({
  version: z.number().int().min(1),
  createdAt: z.string(),
  metrics: z.record(z.string(), z.number()),
  promoted: z.boolean(),
  reason: z.string(),
  workflowId: z.string(),
});
export type VersionSummary = z.infer<typeof VersionSummarySchema>;

/** `mlp models show <name> [version]`: the model's aliases and versions, and one version's full record. */
export const ModelDescriptionSchema = z.object({
  name: z.string(),
  aliases: z.object({ latest: AliasSchema.nullable(), production: AliasSchema.nullable() }),
  versions: z.array(VersionSummarySchema),
  record: VersionRecordSchema.nullable(),
});
export type ModelDescription = z.infer<typeof ModelDescriptionSchema>;

/** `mlp models promote <name> <version>`: what to point `production` at, and who asked why. */
export interface PromoteRequest {
  name: string;
  version: number;
  reason: string;
}

export const PromoteResultSchema = z.object({
  name: z.string(),
  version: z.number().int().min(1),
  previousVersion: z.number().int().min(1).nullable(),
  reason: z.string(),
});
export type PromoteResult = z.infer<typeof PromoteResultSchema>;

/** Names of the workflows behind `mlp models` (workflows/models.ts). */
export const MODEL_WORKFLOWS = { list: 'listModels', describe: 'describeModel', promote: 'promoteModel' } as const;
