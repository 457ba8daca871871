import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { S3Error, type Client as S3Client } from 'minio';
import { z } from 'zod';
import { ChecksumMismatchError, SourceUnreachableError } from '../../../common/index.ts';
import type { ArchiveSource, PinnedModelSource } from './public-sources.ts';

/**
 * Brings a public source into the stack's object store once, verified, so that every later demo
 * run reads the stored copy and sends no request at all. Nothing is stored before its bytes
 * matched their pin: a wrong file fails with `ChecksumMismatchError` and leaves the store as it
 * was. Any failure to fetch (no network, refused, timed out, an error status) is a
 * `SourceUnreachableError`, which the demo answers by running offline.
 *
 * This runs in the demo's client process (the step activities are the worker's: the client may
 * not import them), so the resumable download below is a small sibling of the download step's.
 */

/** Bytes of one file so far; `bytesTotal` undefined when the server sent no length. */
export interface FetchProgress {
  what: string;
  bytesDone: number;
  bytesTotal: number | undefined;
}

export interface StoreOnceDeps {
  s3: S3Client;
  bucket: string;
  /** Local folder for downloads in progress; a partial archive stays there so the next run resumes. */
  downloadsDir: string;
  /** Trust-on-first-use record of unpinned archives (JSON, in the stack's home). */
  trustFile: string;
  onProgress?: (progress: FetchProgress) => void;
  /** How long a server may stay silent (no answer, or no byte of the body) before it counts as unreachable. @default 15000 */
  connectTimeoutMs?: number;
}

/** Where the demo reads a stored source, and whether this call fetched it. */
export interface StoredSource {
  /** `s3://<bucket>/<key>`, as a pipeline param takes it. */
  location: string;
  fetched: boolean;
}

export interface StoredArchive extends StoredSource {
  sha256: string;
  /** How the bytes were checked: the code's pin, the first fetch's record, or recorded just now. */
  verifiedBy: 'pin' | 'first-use record' | 'first use';
}

/** Stores the model's files under `storePrefix` unless model.json (written last) is there already. */
export async function storeModelOnce(source: PinnedModelSource, deps: StoreOnceDeps): Promise<StoredSource> {
  const modelKey = `${source.storePrefix}/model.json`;
  const location = `s3://${deps.bucket}/${modelKey}`;
  if (await objectExists(deps, modelKey)) return { location, fetched: false };

  const base = new URL(source.modelUrl);
  const files = new Map<string, Uint8Array>();
  // model.json first: it names the shards, and each must be one of the pinned files.
  const modelJson = await fetchPinned(new URL(base), 'model.json', source, deps);
  files.set('model.json', modelJson);
  const shards = shardNames(modelJson, source.modelUrl);
  const what = `${source.modelUrl} (model.json and ${shards.length} weight files)`;
  let bytesDone = modelJson.byteLength;
  for (const [index, name] of shards.entries()) {
    if (!source.pins.has(name)) throw new ChecksumMismatchError(`${source.modelUrl} names a weight file ${name} that has no pin; nothing was stored`);
    const bytes = await fetchPinned(new URL(name, base), name, source, deps);
    files.set(name, bytes);
    bytesDone += bytes.byteLength;
    deps.onProgress?.({ what, bytesDone, bytesTotal: index === shards.length - 1 ? bytesDone : undefined });
  }
  // Everything matched: shards first, model.json last, so a reader that finds it finds them all.
  for (const [name, bytes] of [...files].filter(([name]) => name !== 'model.json')) {
    await deps.s3.putObject(deps.bucket, `${source.storePrefix}/${name}`, Buffer.from(bytes), bytes.byteLength, sha256Metadata(sha256Hex(bytes)));
  }
  await deps.s3.putObject(deps.bucket, modelKey, Buffer.from(modelJson), modelJson.byteLength, sha256Metadata(sha256Hex(modelJson)));
  return { location, fetched: true };
}

/**
 * Stores the archive as `<storePrefix>/<sha256>.zip`. Its expected sha256 is the source's pin,
 * else the one recorded the first time it was fetched; with neither, this fetch records it.
 */
export async function storeArchiveOnce(source: ArchiveSource, deps: StoreOnceDeps): Promise<StoredArchive> {
  const recorded = (await readTrust(deps.trustFile))[source.url];
  const expected = source.sha256 ?? recorded?.sha256;
  const verifiedBy = source.sha256 !== undefined ? 'pin' : recorded !== undefined ? 'first-use record' : 'first use';
  const keyOf = (sha256: string) => `${source.storePrefix}/${sha256}.zip`;
  if (expected !== undefined && (await objectExists(deps, keyOf(expected)))) {
    return { location: `s3://${deps.bucket}/${keyOf(expected)}`, fetched: false, sha256: expected, verifiedBy };
  }

  await mkdir(deps.downloadsDir, { recursive: true });
  const path = join(deps.downloadsDir, `${createHash('sha256').update(source.url).digest('hex').slice(0, 16)}.download`);
  // A whole download is kept until it is stored: a run that failed to store it does not fetch it again.
  const finished = await stat(path).catch(() => undefined);
  const bytes = finished?.isFile() ? finished.size : (await resumableDownload(new URL(source.url), path, source.title, deps)).bytes;
  const sha256 = await sha256OfFile(path);
  if (expected !== undefined && sha256 !== expected) {
    await rm(path, { force: true });
    const against = verifiedBy === 'pin' ? 'its pin' : `the sha256 recorded when it was first fetched (${recorded?.fetchedAt ?? '?'}, in ${deps.trustFile})`;
    throw new ChecksumMismatchError(`${source.url} now has sha256 ${sha256}, but ${against} is ${expected}; nothing was stored`);
  }
  const key = keyOf(sha256);
  await deps.s3.fPutObject(deps.bucket, key, path, sha256Metadata(sha256));
  if (expected === undefined) await recordTrust(deps.trustFile, source.url, { sha256, bytes, fetchedAt: new Date().toISOString() });
  await rm(path, { force: true });
  return { location: `s3://${deps.bucket}/${key}`, fetched: true, sha256, verifiedBy };
}

const TrustRecordSchema = z.record(z.string(), z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().min(0), fetchedAt: z.string() }));
type TrustRecord = z.infer<typeof TrustRecordSchema>;

async function readTrust(file: string): Promise<TrustRecord> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return {};
  const parsed = TrustRecordSchema.safeParse(JSON.parse(text));
  // A damaged record must not silently turn into "first use" again.
  if (!parsed.success) throw new ChecksumMismatchError(`${file} is not a valid record of first-use sha256s; fix or delete it`);
  return parsed.data;
}

async function recordTrust(file: string, url: string, entry: TrustRecord[string]): Promise<void> {
  const record = { ...(await readTrust(file)), [url]: entry };
  await writeFile(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/** GETs a small pinned file into memory and checks it before anything else happens. */
async function fetchPinned(url: URL, name: string, source: PinnedModelSource, deps: StoreOnceDeps): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of get(url, {}, deps)) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  const found = sha256Hex(bytes);
  const pinned = source.pins.get(name);
  if (found !== pinned) {
    throw new ChecksumMismatchError(`${url.href} has sha256 ${found}, but is pinned to ${pinned ?? '(no pin)'}; nothing was stored`);
  }
  return bytes;
}

function shardNames(modelJson: Uint8Array, where: string): string[] {
  const schema = z.object({ weightsManifest: z.array(z.object({ paths: z.array(z.string().regex(/^[\w.-]+$/)) })) });
  let parsed: z.infer<typeof schema>;
  try {
    parsed = schema.parse(JSON.parse(Buffer.from(modelJson).toString('utf8')));
  } catch {
    throw new ChecksumMismatchError(`${where} is not a TF.js layers model.json with a weights manifest`);
  }
  return parsed.weightsManifest.flatMap((group) => group.paths);
}

/**
 * Streams a URL into `path`, resuming from `path.part` when an earlier run stopped half-way
 * (a Range request; a server that ignores it sends the whole file again).
 */
async function resumableDownload(url: URL, path: string, what: string, deps: StoreOnceDeps): Promise<{ bytes: number }> {
  const part = `${path}.part`;
  const start = (await stat(part).catch(() => undefined))?.size ?? 0;
  let resumed = false;
  let bytesTotal: number | undefined;
  const file = await open(part, 'a');
  let bytesDone = start;
  let first = true;
  try {
    const body = get(url, start > 0 ? { range: `bytes=${start}-` } : {}, deps, (response) => {
      resumed = start > 0 && response.status === 206;
      const length = Number(response.headers.get('content-length') ?? Number.NaN);
      bytesTotal = Number.isFinite(length) ? length + (resumed ? start : 0) : undefined;
    });
    for await (const chunk of body) {
      if (first && !resumed) {
        await file.truncate(0);
        bytesDone = 0;
      }
      first = false;
      await file.write(chunk);
      bytesDone += chunk.byteLength;
      deps.onProgress?.({ what, bytesDone, bytesTotal });
    }
  } catch (error) {
    // Anything else (a full disk) is not the network's doing: no fallback for it.
    if (!(error instanceof SourceUnreachableError) || first) throw error;
    throw new SourceUnreachableError(`Download of ${url.href} broke off after ${bytesDone} bytes (${describeCause(error.cause ?? error)}); the next run resumes it`);
  } finally {
    await file.close();
  }
  if (bytesTotal !== undefined && bytesDone !== bytesTotal) {
    throw new SourceUnreachableError(`Download of ${url.href} ended after ${bytesDone} of ${bytesTotal} bytes; the next run resumes it`);
  }
  await rename(part, path);
  return { bytes: bytesDone };
}

/**
 * Streams a GET's body. Every failure (network, silence, an error status) is a
 * `SourceUnreachableError`. The timeout is for silence: no answer, or no byte, for
 * `connectTimeoutMs` aborts; a 1.2 GB body that keeps coming takes as long as it takes.
 * `onResponse` sees the answer's status and headers before the first chunk.
 */
async function* get(url: URL, headers: Record<string, string>, deps: StoreOnceDeps, onResponse?: (response: Response) => void): AsyncGenerator<Uint8Array, void, undefined> {
  const timeoutMs = deps.connectTimeoutMs ?? 15_000;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new SourceUnreachableError(`nothing received for ${timeoutMs / 1000} s`)), timeoutMs);
  };
  arm();
  try {
    let response: Response;
    try {
      response = await fetch(url, { headers: { 'accept-encoding': 'identity', ...headers }, redirect: 'follow', signal: controller.signal });
    } catch (error) {
      throw new SourceUnreachableError(`Cannot reach ${url.href} (${describeCause(error)})`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new SourceUnreachableError(`${url.href} answered ${response.status} ${response.statusText}`.trim());
    }
    onResponse?.(response);
    if (!response.body) return;
    try {
      for await (const chunk of response.body) {
        arm();
        yield chunk;
      }
    } catch (error) {
      throw new SourceUnreachableError(`Download of ${url.href} broke off (${describeCause(error)})`, { cause: error });
    }
  } finally {
    clearTimeout(timer);
  }
}

/** `connect ECONNREFUSED 127.0.0.1:9`, `getaddrinfo ENOTFOUND host`, `no answer in 15 s`: the useful part of fetch's error. */
function describeCause(error: unknown): string {
  if (error instanceof SourceUnreachableError) return error.message;
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return cause instanceof Error ? cause.message : String(cause);
}

async function objectExists(deps: StoreOnceDeps, key: string): Promise<boolean> {
  try {
    await deps.s3.statObject(deps.bucket, key);
    return true;
  } catch (error) {
    if (error instanceof S3Error && ['NotFound', 'NoSuchKey'].includes(error.code ?? '')) return false;
    throw error;
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Stored as activities/object-store.ts's writers do (`sha256`, sent as `x-amz-meta-sha256`), so readers can skip re-hashing. */
function sha256Metadata(sha256: string): Record<string, string> {
  return { sha256 };
}

