import { z } from 'zod';
import type { StepKind } from '../step-kind.ts';
import { countsSchema, objectKeySchema, sha256Schema, sourceUrlSchema } from './fields.ts';

const input = z
  .strictObject({
    url: sourceUrlSchema,
    sha256: sha256Schema.optional().describe('Pinned sha256 of the archive; a mismatch fails without retry'),
    format: z
      .enum(['auto', 'zip', 'tar.gz', 'directory'])
      .default('auto')
      .describe('Archive format; auto recognizes zip and tar(.gz) by their first bytes and imports a file:// folder as it is'),
  })
  .describe('download inputs');

const output = z.object({
  datasetManifest: objectKeySchema.describe('Key of the dataset manifest (path, split, class, sha256, size per image)'),
  datasetHash: sha256Schema.describe("sha256 of the manifest: the dataset's identity"),
  classes: z.array(z.string()),
  counts: countsSchema,
  skipped: z.number().int().min(0).describe('Corrupt or non-image files skipped (listed in the report)'),
  report: objectKeySchema.describe('Key of the import report'),
});

/** Fetches a dataset archive, extracts it safely and imports it content-addressed into storage. */
export const downloadStep = {
  uses: 'download',
  activity: 'downloadDataset',
  version: '2',
  description: 'Downloads (resumably), verifies, extracts and imports a {train,test,val}/{CLASS} image dataset',
  input,
  output,
  artifactInputs: [],
  artifactOutputs: ['datasetManifest', 'report'],
  volatileOutputs: ['uploaded', 'reused', 'archiveBytes', 'resumedFrom'],
  defaultQueue: 'cpu',
  // Keying on the URL would return a stale dataset after the source changed. Without a pinned
  // sha256 the step always runs; it re-uploads nothing already stored, and the steps after it
  // still hit the cache because their keys use the dataset manifest's content hash.
  uncacheableReason: (with_: Record<string, unknown>) =>
    typeof with_['sha256'] === 'string' ? undefined : 'the source can change under the same URL; pin its sha256 to cache this step',
} as const satisfies StepKind<typeof input, typeof output>;

export type DownloadInput = z.infer<typeof input>;
export type DownloadOutput = z.infer<typeof output>;
