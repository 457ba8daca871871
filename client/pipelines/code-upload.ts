import { Client as S3Client, S3Error } from 'minio';
import { RunCodeError } from '../../common/errors.ts';
import { codeArchiveKey } from '../../common/object-keys.ts';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import { PACKAGED_CODE } from '../../common/step-kinds/run.ts';
import { s3ClientOptions, type StorageConfig } from '../../common/storage-config.ts';
import { RUN_STEP_KIND, type RunCode } from './run-code.ts';

/**
 * Uploads the packaged code of a pipeline's run steps before the run is submitted: each archive
 * once, at `code/<sha256>.tar.gz`, skipped when that key already holds it (same key, same bytes).
 * Only a pipeline with run steps needs object storage here; others never open it.
 */

/** What uploading needs from object storage. */
export interface CodeArchiveStore {
  /** s3://bucket, for messages. */
  readonly location: string;
  exists(key: string): Promise<boolean>;
  put(key: string, archive: Buffer): Promise<void>;
}

export interface CodeUploadReport {
  /** sha256 of each archive written now. */
  uploaded: string[];
  /** sha256 of each archive that was stored already. */
  present: string[];
}

/** The sha256 of every run step's code in a resolved spec (each once, in step order). */
export function runCodeSha256s(pipeline: Pick<ResolvedPipeline, 'steps'>): string[] {
  const found = pipeline.steps.flatMap((step) => {
    const code = step.uses === RUN_STEP_KIND ? step.with['code'] : undefined;
    const sha256 = typeof code === 'string' ? PACKAGED_CODE.exec(code)?.[1] : undefined;
    return sha256 === undefined ? [] : [sha256];
  });
  return [...new Set(found)];
}

/**
 * Makes every archive `pipeline` names exist in `store`: uploads those in `code` that are not
 * there yet. Throws RunCodeError for one the spec names that is neither stored nor packaged here
 * (a `code: sha256:<hex>` written in the file for an archive that was never uploaded).
 */
export async function uploadRunCode(store: CodeArchiveStore, pipeline: Pick<ResolvedPipeline, 'steps'>, code: readonly RunCode[]): Promise<CodeUploadReport> {
  const report: CodeUploadReport = { uploaded: [], present: [] };
  for (const sha256 of runCodeSha256s(pipeline)) {
    const key = codeArchiveKey(sha256);
    if (await store.exists(key)) {
      report.present.push(sha256);
      continue;
    }
    const packaged = code.find((entry) => entry.sha256 === sha256);
    if (packaged === undefined) {
      throw new RunCodeError(`Code sha256:${sha256} is not stored at ${store.location}/${key}, and no folder of this pipeline packages to it: name the code folder instead`);
    }
    await store.put(key, packaged.archive);
    report.uploaded.push(sha256);
  }
  return report;
}

/**
 * uploadRunCode for a loaded pipeline; `openStore` is called only when the pipeline has run
 * steps, so a pipeline without them needs no object storage settings.
 */
export async function uploadPipelineCode(
  loaded: { resolved: Pick<ResolvedPipeline, 'steps'>; code: readonly RunCode[] },
  openStore: () => CodeArchiveStore,
): Promise<CodeUploadReport> {
  if (runCodeSha256s(loaded.resolved).length === 0) return { uploaded: [], present: [] };
  return uploadRunCode(openStore(), loaded.resolved, loaded.code);
}

/** `code: uploaded 1a2b3c4d5e6f (fit), already stored 9f8e7d6c5b4a`, or undefined without run steps. */
export function formatCodeUpload(report: CodeUploadReport, code: readonly RunCode[]): string | undefined {
  const name = (sha256: string): string => {
    const steps = code.find((entry) => entry.sha256 === sha256)?.steps ?? [];
    return `${sha256.slice(0, 12)}${steps.length > 0 ? ` (${steps.join(', ')})` : ''}`;
  };
  const parts = [
    ...(report.uploaded.length > 0 ? [`uploaded ${report.uploaded.map(name).join(', ')}`] : []),
    ...(report.present.length > 0 ? [`already stored ${report.present.map(name).join(', ')}`] : []),
  ];
  return parts.length === 0 ? undefined : `code: ${parts.join('; ')}`;
}

/** A CodeArchiveStore on an S3-compatible server. */
export function s3CodeArchiveStore(storage: StorageConfig): CodeArchiveStore {
  const client = new S3Client(s3ClientOptions(storage));
  return {
    location: `s3://${storage.bucket}`,
    async exists(key) {
      try {
        await client.statObject(storage.bucket, key);
        return true;
      } catch (error) {
        if (error instanceof S3Error && ['NotFound', 'NoSuchKey'].includes(error.code ?? '')) return false;
        throw error;
      }
    },
    async put(key, archive) {
      await client.putObject(storage.bucket, key, archive, archive.length, { 'Content-Type': 'application/gzip' });
    },
  };
}
