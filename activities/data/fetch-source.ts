import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { S3Error } from 'minio';
import { DownloadError } from '../../common/index.ts';
import type { ObjectStore } from '../object-store.ts';
import { httpDownload, type DownloadProgress } from './http-download.ts';
import type { DataLogger } from './logger.ts';

export interface FetchSourceOptions {
  source: string;
  /** Where a remote source is stored; its `.part` sibling holds an unfinished download. */
  downloadPath: string;
  store: ObjectStore;
  log: DataLogger;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** What the source is, for error messages. @default 'dataset source' */
  subject?: string;
}

export type FetchedSource =
  | { kind: 'file'; path: string; bytes: number; downloaded: boolean; resumedFrom: number }
  | { kind: 'directory'; path: string };

/**
 * Makes a dataset source available on local disk. `http(s)://` streams to `downloadPath`
 * (resuming from a `.part` file), `s3://<bucket>/<key>` streams from any bucket of the worker's
 * S3 server (with the worker's credentials), `file://` is used in place (a folder is imported as
 * it is, an archive extracted).
 */
export async function fetchSource(options: FetchSourceOptions): Promise<FetchedSource> {
  const { source, downloadPath, store, log, onProgress, signal, subject = 'dataset source' } = options;
  const unsupported = () => new DownloadError(`Unsupported ${subject} "${source}": expected an https://, http://, s3:// or file:// URL`);
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw unsupported();
  }
  const partPath = `${downloadPath}.part`;
  await mkdir(dirname(downloadPath), { recursive: true });
  // Only finished downloads are renamed to downloadPath: one found here is complete (an earlier
  // attempt got this far and failed later, e.g. while uploading).
  const finished = url.protocol === 'file:' ? undefined : await stat(downloadPath).catch(() => undefined);
  if (finished?.isFile()) {
    log.info('Reusing finished download', { source, bytes: finished.size });
    return { kind: 'file', path: downloadPath, bytes: finished.size, downloaded: false, resumedFrom: finished.size };
  }

  if (url.protocol === 'file:') {
    const path = localPath(source, subject);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) throw new DownloadError(`${subject[0]?.toUpperCase() ?? ''}${subject.slice(1)} not found: ${source}`);
    if (info.isDirectory()) return { kind: 'directory', path };
    return { kind: 'file', path, bytes: info.size, downloaded: false, resumedFrom: 0 };
  }

  if (url.protocol === 'http:' || url.protocol === 'https:') {
    const result = await httpDownload({ url, partPath, log, onProgress, signal });
    await rename(partPath, downloadPath);
    await rm(`${partPath}.validator`, { force: true });
    return { kind: 'file', path: downloadPath, bytes: result.bytes, downloaded: true, resumedFrom: result.resumedFrom };
  }

  if (url.protocol === 's3:') {
    const bucket = url.hostname;
    const key = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (bucket === '' || key === '') {
      throw new DownloadError(`Invalid ${subject} "${source}": expected s3://<bucket>/<key>`);
    }
    // Any bucket on the worker's S3 server, read with the worker's credentials.
    const bucketStore = store.forBucket(bucket);
    // The object store is local to the cluster: a retry re-reads the object instead of resuming.
    const info = await s3Read(source, () => bucketStore.stat(key));
    if (info === undefined) {
      // A missing bucket stats like a missing object; telling them apart points at the typo.
      if (!(await s3Read(source, () => bucketStore.bucketExists()))) {
        throw new DownloadError(`Download failed with status 404 (NoSuchBucket): GET ${source}: bucket "${bucket}" does not exist`);
      }
      throw new DownloadError(`Download failed with status 404 (NoSuchKey): GET ${source}: no object "${key}" in bucket "${bucket}"`);
    }
    const body = await s3Read(source, () => bucketStore.getStream(key));
    let bytesDone = 0;
    body.on('data', (chunk: Buffer) => {
      bytesDone += chunk.length;
      onProgress?.({ bytesDone, bytesTotal: info.size });
    });
    await pipeline(body, createWriteStream(partPath), { signal });
    await rename(partPath, downloadPath);
    return { kind: 'file', path: downloadPath, bytes: bytesDone, downloaded: true, resumedFrom: 0 };
  }

  throw unsupported();
}

/**
 * Runs one S3 call for an `s3://` source. Access denied is turned into a `DownloadError`
 * (retrying with the same credentials cannot help); other errors, such as a server that is down,
 * propagate and are retried.
 */
async function s3Read<T>(source: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof S3Error && error.code === 'AccessDenied') {
      throw new DownloadError(`Download failed with status 403 (AccessDenied): GET ${source}: the worker's S3 credentials may not read it`);
    }
    throw error;
  }
}

/**
 * `file:///abs/path` is a standard file URL; `file://../data` or `file://data` (how pipelines
 * name a folder relative to the worker's working directory) is accepted too.
 */
function localPath(source: string, subject: string): string {
  const rest = source.slice('file://'.length);
  if (rest.startsWith('/')) {
    try {
      return fileURLToPath(source);
    } catch (error) {
      throw new DownloadError(`Invalid file URL of ${subject} "${source}": ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return resolve(decodeURIComponent(rest));
}
