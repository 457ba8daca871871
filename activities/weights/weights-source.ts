import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ArtifactNotFoundError, ChecksumMismatchError, DownloadError } from '../../common/errors.ts';
import { formatWeightsPin, type WeightsPin, type WeightsReference } from '../../common/weights-reference.ts';
import { fetchSource } from '../data/fetch-source.ts';
import { fileDigests } from '../data/file-hash.ts';
import type { DataLogger } from '../data/logger.ts';
import { SHA256_METADATA_KEY, type ObjectStore } from '../object-store.ts';

/**
 * Brings a Keras `.h5` weights file to local disk, verified. A pinned file (`weightsHash`, or a
 * `keras:` shorthand) is fetched from its origin once and kept in object storage by content,
 * `weights/<sha256>.h5`, with `weights/md5/<md5>.json` pointing md5 pins (what Keras publishes)
 * at it; every later run and worker reads that copy and never asks the origin again. The pin is
 * checked over the whole file before anything parses it, so a wrong or truncated download fails
 * with `ChecksumMismatchError`; a file is stored only after it loaded (`keep`), so a bad file
 * leaves nothing behind. Unpinned files are read from their source every time (a URL may serve
 * new bytes under the same name).
 */

export type KerasH5Reference = Extract<WeightsReference, { format: 'keras-h5' }>;

export interface WeightsSourceDeps {
  store: ObjectStore;
  /** Local folder for downloads (removed again by `release`). */
  scratchDir: string;
  log: DataLogger;
  signal?: AbortSignal;
}

/** A verified weights file on local disk. */
export interface LocalWeightsFile {
  path: string;
  sha256: string;
  bytes: number;
  /** `store`: the content-addressed copy in object storage; `source`: the origin. */
  from: 'store' | 'source';
  /**
   * Call once the file loaded: a pinned file from its source is stored (blob, then md5 pointer)
   * for later runs. Returns the stored copy's key; undefined for unpinned files.
   */
  keep(): Promise<string | undefined>;
  /** Removes what this fetch put on local disk (never a `file://` source itself). */
  release(): Promise<void>;
}

export function storedWeightsKey(sha256: string): string {
  return `weights/${sha256}.h5`;
}

export function md5IndexKey(md5: string): string {
  return `weights/md5/${md5}.json`;
}

const Md5IndexSchema = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), md5: z.string(), bytes: z.number().int().min(0), source: z.string() });

/** The weights file of a reference, from object storage when pinned and stored, else from its source. */
export async function fetchWeightsFile(reference: KerasH5Reference, deps: WeightsSourceDeps): Promise<LocalWeightsFile> {
  const dir = join(deps.scratchDir, 'weights');
  await mkdir(dir, { recursive: true });
  if (reference.pin) {
    const cached = await readStoredCopy(reference, reference.pin, dir, deps);
    if (cached) return cached;
  }
  return fetchFromSource(reference, dir, deps);
}

/** The stored copy of a pinned file, or undefined when none is stored yet. */
async function readStoredCopy(reference: KerasH5Reference, pin: WeightsPin, dir: string, deps: WeightsSourceDeps): Promise<LocalWeightsFile | undefined> {
  const { store, log } = deps;
  let sha256 = pin.algorithm === 'sha256' ? pin.hex : undefined;
  if (pin.algorithm === 'md5') {
    const index = await store.getJson(md5IndexKey(pin.hex)).catch((error: unknown) => {
      if (error instanceof ArtifactNotFoundError) return undefined;
      throw error;
    });
    if (index !== undefined) sha256 = Md5IndexSchema.parse(index).sha256;
  }
  if (sha256 === undefined) return undefined;
  const key = storedWeightsKey(sha256);
  if (!(await store.exists(key))) return undefined;

  const path = join(dir, `${sha256}-${randomUUID().slice(0, 8)}.h5`);
  const digests = { sha256: createHash('sha256'), md5: createHash('md5') };
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      digests.sha256.update(chunk);
      digests.md5.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(await store.getStream(key), hashing, createWriteStream(path), ...(deps.signal ? [{ signal: deps.signal }] : []));
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  const found = { sha256: digests.sha256.digest('hex'), md5: digests.md5.digest('hex') };
  if (found.sha256 !== sha256 || found[pin.algorithm] !== pin.hex) {
    await rm(path, { force: true });
    throw new ChecksumMismatchError(
      `Weights copy s3://${store.bucket}/${key} does not match its pin ${formatWeightsPin(pin)} (sha256 ${found.sha256}, md5 ${found.md5}); remove it so the next run fetches ${reference.location} again`,
    );
  }
  log.info('Weights read from object storage', { weights: reference.shorthand ?? reference.location, key, bytes });
  return { path, sha256, bytes, from: 'store', keep: async () => key, release: () => rm(path, { force: true }) };
}

async function fetchFromSource(reference: KerasH5Reference, dir: string, deps: WeightsSourceDeps): Promise<LocalWeightsFile> {
  const { store, log } = deps;
  const source = asUrl(reference.location);
  const downloadPath = join(dir, `${randomUUID()}.h5`);
  const removeDownload = async () => {
    await rm(downloadPath, { force: true });
    await rm(`${downloadPath}.part`, { force: true });
    await rm(`${downloadPath}.part.validator`, { force: true });
  };
  let fetched: Awaited<ReturnType<typeof fetchSource>>;
  try {
    fetched = await fetchSource({ source, downloadPath, store, log, subject: 'weights file', ...(deps.signal ? { signal: deps.signal } : {}) });
  } catch (error) {
    await removeDownload();
    throw error;
  }
  if (fetched.kind !== 'file') throw new DownloadError(`Weights file ${reference.location} is a folder; expected a Keras .h5 file`);
  const release = fetched.downloaded ? removeDownload : async () => {};
  try {
    const digests = await fileDigests(fetched.path);
    const pin = reference.pin;
    if (pin) {
      const found = digests[pin.algorithm];
      const sizeNote = reference.bytes !== undefined && reference.bytes !== digests.bytes ? `; ${digests.bytes} bytes where ${reference.bytes} were expected` : '';
      if (found !== pin.hex) {
        throw new ChecksumMismatchError(`Weights file ${reference.location} has ${pin.algorithm} ${found}, but is pinned to ${formatWeightsPin(pin)}${sizeNote}`);
      }
    }
    log.info('Weights read from source', { weights: reference.shorthand ?? reference.location, bytes: digests.bytes, sha256: digests.sha256, pinned: pin !== undefined });
    const keep = async (): Promise<string | undefined> => {
      if (!pin) return undefined;
      // The blob first, then the md5 pointer: a reader that finds the pointer finds the blob.
      const key = storedWeightsKey(digests.sha256);
      if (!(await store.exists(key))) {
        await store.put(key, createReadStream(fetched.path), 'application/x-hdf5', { [SHA256_METADATA_KEY]: digests.sha256 });
      }
      if (pin.algorithm === 'md5') {
        await store.putJson(md5IndexKey(digests.md5), { sha256: digests.sha256, md5: digests.md5, bytes: digests.bytes, source: reference.location });
      }
      log.info('Weights stored for later runs', { key });
      return key;
    };
    return { path: fetched.path, sha256: digests.sha256, bytes: digests.bytes, from: 'source', keep, release };
  } catch (error) {
    await release();
    throw error;
  }
}

/** A location as fetchSource takes it: URLs as they are, plain paths as `file://` URLs. */
function asUrl(location: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return location;
  return pathToFileURL(isAbsolute(location) ? location : resolve(location)).href;
}
