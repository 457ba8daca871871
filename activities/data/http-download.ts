import { open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { DownloadError } from '../../common/index.ts';
import type { DataLogger } from './logger.ts';

export interface DownloadProgress {
  bytesDone: number;
  /** `undefined` when the server sends no length. */
  bytesTotal: number | undefined;
}

export interface HttpDownloadOptions {
  url: URL;
  /** Partial file: kept across attempts so a retry resumes where the last one stopped. */
  partPath: string;
  log: DataLogger;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
}

export interface HttpDownloadResult {
  bytes: number;
  /** Bytes already on disk that this attempt did not fetch again. */
  resumedFrom: number;
  /** True when bytes were on disk but the server ignored the Range request. */
  restarted: boolean;
}

/**
 * Streams an http(s) URL into `partPath`, resuming with a Range request from the bytes already
 * there. `If-Range` carries the validator (ETag or Last-Modified) of the first response, so a
 * file that changed on the server is fetched whole instead of spliced. A dropped connection
 * leaves the partial file and throws a plain (retryable) `Error`; 4xx answers are
 * `DownloadError` (retrying cannot fix them).
 */
export async function httpDownload({ url, partPath, log, onProgress, signal }: HttpDownloadOptions): Promise<HttpDownloadResult> {
  const validatorPath = `${partPath}.validator`;
  let start = await fileSize(partPath);
  const validator = start > 0 ? await readFile(validatorPath, 'utf8').catch(() => undefined) : undefined;
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (start > 0) {
    headers.range = `bytes=${start}-`;
    // If-Range takes a strong validator only; with a weak ETag the server would send 200 anyway.
    if (validator && !validator.startsWith('W/')) headers['if-range'] = validator;
  }

  const response = await fetch(url, { headers, signal, redirect: 'follow' });
  let restarted = false;
  if (start > 0 && response.status === 416) {
    // Asked for bytes past the end: the previous attempt may have received everything.
    const total = parseContentRangeTotal(response.headers.get('content-range'));
    await response.body?.cancel();
    if (total === start) return { bytes: start, resumedFrom: start, restarted: false };
    log.warn('Range not satisfiable; restarting download', { url: url.href, bytesOnDisk: start, total });
    await rm(partPath, { force: true });
    return httpDownload({ url, partPath, log, onProgress, signal });
  }
  if (!response.ok) {
    await response.body?.cancel();
    const message = `Download failed with status ${response.status}: GET ${url.href}`;
    const transient = response.status >= 500 || response.status === 408 || response.status === 429;
    throw transient ? new Error(message) : new DownloadError(message);
  }
  if (start > 0 && response.status !== 206) {
    log.warn('Server ignored the Range request; restarting download from byte 0', {
      url: url.href,
      bytesOnDisk: start,
      status: response.status,
    });
    start = 0;
    restarted = true;
  }
  if (start > 0) {
    const rangeStart = parseContentRangeStart(response.headers.get('content-range'));
    if (rangeStart !== start) {
      await response.body?.cancel();
      throw new Error(`Download resumed at the wrong offset (${rangeStart} instead of ${start}): GET ${url.href}`);
    }
  }
  const bytesTotal =
    response.status === 206
      ? parseContentRangeTotal(response.headers.get('content-range'))
      : optionalNumber(response.headers.get('content-length'));
  if (start === 0) {
    const newValidator = response.headers.get('etag') ?? response.headers.get('last-modified');
    if (newValidator) await writeFile(validatorPath, newValidator);
    else await rm(validatorPath, { force: true });
  } else {
    log.info('Resuming download', { url: url.href, fromByte: start, bytesTotal });
  }

  const file = await open(partPath, start > 0 ? 'a' : 'w');
  let bytesDone = start;
  try {
    if (response.body) {
      for await (const chunk of response.body) {
        await file.write(chunk);
        bytesDone += chunk.byteLength;
        onProgress?.({ bytesDone, bytesTotal });
      }
    }
  } catch (error) {
    // Cancellation is not a network failure: let the SDK's reason (CancelledFailure) through.
    if (signal?.aborted) throw signal.reason ?? error;
    throw new Error(
      `Download interrupted after ${bytesDone} of ${bytesTotal ?? 'unknown'} bytes: GET ${url.href} (${errorMessage(error)})`,
      { cause: error },
    );
  } finally {
    await file.close();
  }
  if (bytesTotal !== undefined && bytesDone !== bytesTotal) {
    throw new Error(`Download interrupted after ${bytesDone} of ${bytesTotal} bytes: GET ${url.href}`);
  }
  return { bytes: bytesDone, resumedFrom: start, restarted };
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

function optionalNumber(text: string | null): number | undefined {
  if (text === null || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

/** `bytes 100-199/1000` → 100. */
function parseContentRangeStart(header: string | null): number | undefined {
  const match = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header ?? '');
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** `bytes 100-199/1000` or `bytes (star)/1000` → 1000. */
function parseContentRangeTotal(header: string | null): number | undefined {
  const match = /^bytes (?:\d+-\d+|\*)\/(\d+)$/.exec(header ?? '');
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
