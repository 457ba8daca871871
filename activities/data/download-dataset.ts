import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DATASET_SPLITS } from '../../common/dataset-manifest.ts';
import { ArchiveError, ChecksumMismatchError, PipelineSpecError } from '../../common/index.ts';
import type { DownloadInput, DownloadOutput } from '../../common/step-kinds/download.ts';
import type { ObjectStore } from '../object-store.ts';
import { DEFAULT_EXTRACT_LIMITS, detectArchiveFormat, extractArchive, type ExtractLimits } from './extract.ts';
import { fetchSource } from './fetch-source.ts';
import { sha256File } from './file-hash.ts';
import { importDataset, type SkippedFile } from './import-dataset.ts';
import type { DataLogger } from './logger.ts';

/** Progress of the download step, heartbeated as activity details. */
export type DownloadStepProgress =
  | { phase: 'download'; bytesDone: number; bytesTotal: number | undefined }
  | { phase: 'extract'; files: number; bytes: number }
  | { phase: 'import'; imagesDone: number; imagesTotal: number };

export interface DownloadDatasetOptions {
  input: DownloadInput;
  /** Scratch folder of this step; a retry must get the same one to resume. */
  workDir: string;
  store: ObjectStore;
  log: DataLogger;
  /** Object key of the import report. */
  reportKey: string;
  onProgress?: (progress: DownloadStepProgress) => void;
  signal?: AbortSignal;
  limits?: ExtractLimits;
  concurrency?: number;
}

export interface DownloadDatasetResult extends DownloadOutput {
  /** The first skipped files with reasons (the report holds them all). */
  skippedFiles: SkippedFile[];
  uploaded: number;
  reused: number;
  /** Bytes of the archive, and how many were already on disk from an earlier attempt. */
  archiveBytes: number;
  resumedFrom: number;
}

const SKIPPED_IN_OUTPUT = 20;

/**
 * The `download` step: fetch (resumably) → verify the pinned sha256 → extract safely → import.
 * The scratch folder is removed on success and on failures a retry cannot fix; after other
 * failures it stays, so the retry resumes the download.
 */
export async function downloadDataset(options: DownloadDatasetOptions): Promise<DownloadDatasetResult> {
  const { input, workDir, store, log, onProgress, signal, reportKey } = options;
  try {
    const result = await run();
    await rm(workDir, { recursive: true, force: true });
    return result;
  } catch (error) {
    if (error instanceof ChecksumMismatchError || error instanceof ArchiveError || error instanceof PipelineSpecError) {
      await rm(workDir, { recursive: true, force: true });
    }
    throw error;
  }

  async function run(): Promise<DownloadDatasetResult> {
    const fetched = await fetchSource({
      source: input.url,
      downloadPath: join(workDir, 'archive'),
      store,
      log,
      signal,
      onProgress: (p) => onProgress?.({ phase: 'download', ...p }),
    });
    let dir: string;
    let archiveBytes = 0;
    let resumedFrom = 0;
    if (fetched.kind === 'directory') {
      if (input.sha256 !== undefined) {
        throw new PipelineSpecError(`download: sha256 pins an archive, but ${input.url} is a folder`);
      }
      if (input.format !== 'auto' && input.format !== 'directory') {
        throw new PipelineSpecError(`download: format is ${input.format}, but ${input.url} is a folder`);
      }
      dir = fetched.path;
    } else {
      archiveBytes = fetched.bytes;
      resumedFrom = fetched.resumedFrom;
      if (input.sha256 !== undefined) {
        const actual = await sha256File(fetched.path);
        if (actual !== input.sha256) {
          throw new ChecksumMismatchError(`Checksum mismatch for ${input.url}: expected sha256 ${input.sha256}, got ${actual}`);
        }
      }
      const detected = await detectArchiveFormat(fetched.path);
      const expected = input.format === 'auto' ? undefined : input.format;
      if (expected !== undefined && !(expected === detected || (expected === 'tar.gz' && detected === 'tar'))) {
        throw new ArchiveError(`Archive ${input.url} is not ${expected} (detected ${detected ?? 'unknown format'})`);
      }
      dir = join(workDir, 'extracted');
      await rm(dir, { recursive: true, force: true });
      const extracted = await extractArchive(
        fetched.path,
        dir,
        options.limits ?? DEFAULT_EXTRACT_LIMITS,
        (p) => onProgress?.({ phase: 'extract', ...p }),
        input.url,
      );
      log.info('Archive extracted', { source: input.url, files: extracted.files, bytes: extracted.bytes, skipped: extracted.skipped });
    }
    const imported = await importDataset({
      dir,
      source: input.url,
      store,
      log,
      reportKey,
      concurrency: options.concurrency,
      onProgress: (p) => onProgress?.({ phase: 'import', ...p }),
    });
    const counts: Record<string, Record<string, number>> = {};
    for (const split of DATASET_SPLITS) {
      const inSplit = imported.manifest.images.filter((image) => image.split === split);
      if (inSplit.length === 0) continue;
      counts[split] = Object.fromEntries(
        imported.manifest.classes.map((cls) => [cls, inSplit.filter((image) => image.class === cls).length]),
      );
    }
    return {
      datasetManifest: imported.manifestKey,
      datasetHash: imported.datasetHash,
      classes: imported.manifest.classes,
      counts,
      skipped: imported.skipped.length,
      report: reportKey,
      skippedFiles: imported.skipped.slice(0, SKIPPED_IN_OUTPUT),
      uploaded: imported.uploaded,
      reused: imported.reused,
      archiveBytes,
      resumedFrom,
    };
  }
}
