import { z } from 'zod';

/**
 * Field schemas shared by several step kinds. Object keys are what steps pass each other:
 * small strings pointing into the object store, never data.
 */

/** Key of an object in the pipeline's bucket, e.g. `runs/<workflowId>/subset/train.json`. */
export const objectKeySchema = z.string().min(1).describe('Object-store key in the pipeline bucket');

/** Lower-case hex sha256 digest. */
export const sha256Schema = z.string().regex(/^[a-f0-9]{64}$/, 'expected a lower-case hex sha256 (64 characters)');

/** Where a dataset or weights come from: `https://…`, `http://…`, `file://…` or `s3://bucket/key`. */
export const sourceUrlSchema = z
  .string()
  .regex(/^(https?|file|s3):\/\/.+/, 'expected an https://, http://, file:// or s3:// URL')
  .describe('https://…, http://…, file://… or s3://bucket/key');

/** Image counts per split and class, e.g. `{ train: { NORMAL: 1341, PNEUMONIA: 3875 } }`. */
export const countsSchema = z.record(z.string(), z.record(z.string(), z.number().int().min(0)));

/** A fraction in [0, 1]. */
export const fractionSchema = z.number().min(0).max(1);

/** Platt scaling parameters: calibrated P = σ(a·logit(P) + b), fitted by an evaluate step on validation. */
export const plattParametersSchema = z.strictObject({
  method: z.literal('platt'),
  a: z.number().positive().describe('Slope on the logit of the model probability'),
  b: z.number().describe('Intercept'),
});

/** The calibration an evaluate step applied before its threshold (its `calibration` output). */
export const appliedCalibrationSchema = z.union([z.strictObject({ method: z.literal('none') }), plattParametersSchema]);
