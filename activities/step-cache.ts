import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CacheKeyPartsSchema, type CacheKeyParts } from '../common/cache-key.ts';
import { canonicalJson } from '../common/canonical-json.ts';
import { ArtifactNotFoundError, PipelineSpecError } from '../common/errors.ts';
import type { StepOutputs } from '../common/step-activities.ts';
import { findStepKind, STEP_KINDS } from '../common/step-kinds/index.ts';
import { runArtifactSchema } from '../common/step-kinds/run.ts';
import { fingerprintStepKinds } from './code-fingerprint.ts';
import { artifactSha256, objectSha256, prefixSha256 } from './content-hash.ts';
import type { ActivityDeps } from './deps.ts';
import { basePythonVersion } from './run/python-env.ts';
import { SHA256_METADATA_KEY, type ObjectStore } from './object-store.ts';

/**
 * The step cache. A step's key is the sha256 of its `CacheKeyParts` (common/cache-key.ts): the
 * kind, its hand-written version, a fingerprint of the code that runs it, the engine where
 * results differ by engine, its plain inputs, and every artifact input replaced by the artifact's
 * *content* hash (a key over object names would hit after a file changed under the same name).
 * Entries are JSON objects under `cache/<key>.json` recording the parts and the sha256 of every
 * artifact the outputs name; a hit is served only after those artifacts were found unchanged.
 * These are activities because hashing needs crypto and I/O, which the workflow sandbox has not.
 */

/** What the cache needs to know about a step kind. */
export interface CacheableKind {
  version: string;
  artifactInputs: readonly string[];
  /** Output fields naming artifacts, checked before a hit is served. @default [] */
  artifactOutputs?: readonly string[];
  /** Whether the engine is part of the key. @default false */
  resultsDependOnEngine?: boolean;
  /** The interpreter whose version is the key's `engine` part for these inputs (a run step's Python). */
  interpreter?: (input: Record<string, unknown>) => 'python' | undefined;
}

/** Finds a step kind by `uses`; the registry by default, test kinds in tests. */
export type CacheableKindLookup = (uses: string) => CacheableKind | undefined;

export interface CacheKeyRequest {
  uses: string;
  /** The step's `with:` after every reference was resolved. */
  inputs: Record<string, unknown>;
}

/** What the worker computing a key contributes to it besides the request. */
export interface CacheKeyEnvironment {
  /** Fingerprint of the code of the step's kind (activities/code-fingerprint.ts). */
  code: string;
  /** The worker's training engine, for kinds whose results depend on it; the interpreter's version for user code. */
  engine: string | null;
}

export interface CacheKey {
  key: string;
  parts: CacheKeyParts;
}

export interface CacheRecord {
  key: string;
  uses: string;
  outputs: StepOutputs;
  workflowId: string;
  stepId: string;
  /** What the key was computed from (absent in runs started before keys had parts). */
  parts?: CacheKeyParts;
}


const recordedArtifactSchema = z.object({ sha256: z.string(), etag: z.string(), size: z.number() });
export type RecordedArtifact = z.infer<typeof recordedArtifactSchema>;

/** A cache entry as stored under `cache/<key>.json` (`mlp plan --explain` and `mlp gc` read them too). */
export const cacheEntrySchema = z.object({
  key: z.string(),
  uses: z.string(),
  version: z.string(),
  outputs: z.record(z.string(), z.unknown()),
  workflowId: z.string(),
  stepId: z.string(),
  recordedAt: z.string(),
  parts: CacheKeyPartsSchema.optional(),
  /** Object key → what it held when the entry was recorded. */
  artifacts: z.record(z.string(), recordedArtifactSchema).optional(),
});

export type CacheEntry = z.infer<typeof cacheEntrySchema>;

/**
 * A verified lookup: `hit` (every artifact the entry names is there, unchanged), `miss` (no
 * usable entry), or `stale` (an entry whose artifacts are missing or changed: the step runs again
 * and overwrites it; `reason` says why, for the run's progress).
 */
export type CacheLookup = { status: 'hit'; entry: CacheEntry } | { status: 'miss' } | { status: 'stale'; reason: string; from: string };

export function cacheEntryKey(key: string): string {
  return `cache/${key}.json`;
}

function requireKind(kinds: CacheableKindLookup, uses: string, operation: string): CacheableKind {
  const kind = kinds(uses);
  if (kind === undefined) throw new PipelineSpecError(`${operation} failed: unknown step kind "${uses}"`);
  return kind;
}

/**
 * An artifact input with each object key replaced by `sha256:<content hash>`: a file's sha256, a
 * folder's (key ending in `/`) listing hash. Lists stay lists and records (a run step's named
 * `inputs`) stay records, so `mlp cache explain` can say which one changed.
 */
async function hashArtifact(store: ObjectStore, uses: string, field: string, value: unknown): Promise<unknown> {
  if (typeof value === 'string') return `sha256:${await artifactSha256(store, value)}`;
  if (Array.isArray(value)) return Promise.all(value.map((item) => hashArtifact(store, uses, field, item)));
  if (value === undefined) return undefined;
  if (isPlainRecord(value)) {
    const hashed: Record<string, unknown> = {};
    for (const [name, item] of Object.entries(value)) hashed[name] = await hashArtifact(store, uses, `${field}.${name}`, item);
    return hashed;
  }
  throw new PipelineSpecError(`Cannot compute cache key of a ${uses} step: artifact input "${field}" is not an object key`);
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The key of a step's parts: sha256 of their canonical JSON. */
export function cacheKeyOf(parts: CacheKeyParts): string {
  return sha256Hex(canonicalJson(parts));
}

/** A step's cache key and its parts; pure apart from reading artifacts (exported for tests and `plan`). */
export async function computeStepCacheKey(
  store: ObjectStore,
  kind: CacheableKind,
  request: CacheKeyRequest,
  environment: CacheKeyEnvironment,
): Promise<CacheKey> {
  const params: Record<string, unknown> = { ...request.inputs };
  const inputs: Record<string, unknown> = {};
  for (const field of kind.artifactInputs) {
    if (!Object.hasOwn(params, field)) continue;
    const hashed = await hashArtifact(store, request.uses, field, params[field]);
    delete params[field];
    if (hashed !== undefined) inputs[field] = hashed;
  }
  const parts: CacheKeyParts = {
    uses: request.uses,
    version: kind.version,
    code: environment.code,
    engine: kind.resultsDependOnEngine === true || kind.interpreter?.(request.inputs) !== undefined ? environment.engine : null,
    params: sha256Hex(canonicalJson(params)),
    inputs,
  };
  return { key: cacheKeyOf(parts), parts };
}

/** An artifact an output names; `sha256` when the output itself records its content hash (a run step's artifacts). */
export interface OutputArtifact {
  field: string;
  key: string;
  sha256?: string;
}

/** Object keys among an output value: a key, a list of keys, a record of keys (evaluate's `plots`) or of RunArtifacts. */
function artifactsIn(field: string, value: unknown): OutputArtifact[] {
  if (typeof value === 'string') return [{ field, key: value }];
  if (Array.isArray(value)) return value.flatMap((item) => artifactsIn(field, item));
  const recorded = runArtifactSchema.safeParse(value);
  if (recorded.success) return [{ field, key: recorded.data.key, sha256: recorded.data.sha256 }];
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap((item) => artifactsIn(field, item));
  return [];
}

/** The artifacts a kind's outputs name, with the output field naming each. */
export function outputArtifacts(kind: CacheableKind, outputs: StepOutputs): OutputArtifact[] {
  return (kind.artifactOutputs ?? []).flatMap((field) => artifactsIn(field, outputs[field]));
}

/**
 * Why an artifact whose output records its sha256 cannot be served, or `undefined`: a file must
 * hold those bytes, a folder (key ending in `/`) that listing of paths and file hashes.
 */
export async function changedSelfHashedArtifact(store: ObjectStore, artifact: OutputArtifact & { sha256: string }): Promise<string | undefined> {
  const { field, key, sha256 } = artifact;
  if (key.endsWith('/')) {
    const listed = await prefixSha256(store, key);
    if (listed.sha256 === sha256) return undefined;
    if (listed.files === 0) return `output ${field}: folder ${key} is missing`;
    return `output ${field}: folder ${key} changed since it was cached (listing sha256 ${listed.sha256.slice(0, 12)}…, recorded ${sha256.slice(0, 12)}…)`;
  }
  if ((await store.stat(key)) === undefined) return `output ${field}: artifact ${key} is missing`;
  const actual = await objectSha256(store, key);
  return actual === sha256 ? undefined : `output ${field}: artifact ${key} changed since it was cached (sha256 ${actual.slice(0, 12)}…, recorded ${sha256.slice(0, 12)}…)`;
}

async function recordArtifact(store: ObjectStore, key: string): Promise<RecordedArtifact> {
  const info = await store.stat(key);
  if (info === undefined) throw new ArtifactNotFoundError(`Cannot record cache entry: artifact not found: s3://${store.bucket}/${key}`);
  return { sha256: await objectSha256(store, key), etag: info.etag, size: info.size };
}

/**
 * Why the artifacts of an entry cannot be served, or `undefined` when they all are as recorded.
 * An object with the recorded etag and size is taken as unchanged (S3 gives rewritten bytes a new
 * etag); otherwise its sha256 (recorded at PUT, or streamed) must equal the recorded one.
 * Entries recorded before artifacts were hashed only need their artifacts to exist.
 */
export async function staleArtifactReason(store: ObjectStore, kind: CacheableKind, entry: CacheEntry): Promise<string | undefined> {
  for (const artifact of outputArtifacts(kind, entry.outputs)) {
    const { field, key, sha256 } = artifact;
    if (sha256 !== undefined) {
      const reason = await changedSelfHashedArtifact(store, { ...artifact, sha256 });
      if (reason !== undefined) return reason;
      continue;
    }
    const info = await store.stat(key);
    if (info === undefined) return `output ${field}: artifact ${key} is missing`;
    const recorded = entry.artifacts?.[key];
    if (recorded === undefined || (info.etag === recorded.etag && info.size === recorded.size)) continue;
    const metadataHash = info.metadata[SHA256_METADATA_KEY]?.toLowerCase();
    const actual = metadataHash ?? (await objectSha256(store, key));
    if (actual !== recorded.sha256) return `output ${field}: artifact ${key} changed since it was cached (sha256 ${actual.slice(0, 12)}…, recorded ${recorded.sha256.slice(0, 12)}…)`;
  }
  return undefined;
}

let defaultFingerprints: Promise<Record<string, string>> | undefined;

/** Fingerprints of the code of every registered step kind in this checkout, by kind; computed once per process. */
export function stepCodeFingerprints(): Promise<Record<string, string>> {
  defaultFingerprints ??= fingerprintStepKinds(STEP_KINDS.map((kind) => kind.uses)).then((graphs) =>
    Object.fromEntries(Object.entries(graphs).map(([uses, graph]) => [uses, graph.fingerprint])),
  );
  return defaultFingerprints;
}

const basePythonVersions = new Map<string, Promise<string>>();

/** The Python version run steps with `python:` get on this worker, e.g. `3.12.3`: asked once per process. */
function pythonVersion(deps: ActivityDeps): Promise<string> {
  if (deps.pythonVersion !== undefined) return deps.pythonVersion();
  const basePython = deps.run?.basePython ?? 'python3';
  let version = basePythonVersions.get(basePython);
  if (version === undefined) {
    version = basePythonVersion(basePython);
    // A failure (no Python yet) is not remembered: the next key asks again.
    version.catch(() => basePythonVersions.delete(basePython));
    basePythonVersions.set(basePython, version);
  }
  return version;
}

export function createStepCacheActivities(deps: ActivityDeps, kinds: CacheableKindLookup = findStepKind) {
  const { store } = deps;

  const environmentFor = async (request: CacheKeyRequest, kind: CacheableKind): Promise<CacheKeyEnvironment> => {
    const { uses } = request;
    const fingerprints = deps.codeFingerprints ?? (await stepCodeFingerprints());
    const code = fingerprints[uses];
    if (code === undefined) throw new PipelineSpecError(`Cache key failed: no code fingerprint for step kind "${uses}" (activities/steps/${uses}.ts)`);
    if (kind.interpreter?.(request.inputs) === 'python') return { code, engine: `python ${await pythonVersion(deps)}` };
    // Without an engine selected at worker start, the train step selects `auto` on first use.
    const engine = kind.resultsDependOnEngine === true ? (deps.engine ? (await deps.engine()).engine : 'auto') : null;
    return { code, engine };
  };

  const readEntry = async (key: string): Promise<CacheEntry | null> => {
    let stored: unknown;
    try {
      stored = await store.getJson(cacheEntryKey(key));
    } catch (error) {
      if (error instanceof ArtifactNotFoundError) return null;
      throw error;
    }
    const parsed = cacheEntrySchema.safeParse(stored);
    // An unreadable entry is a miss: the step reruns and overwrites it.
    if (!parsed.success || parsed.data.key !== key) return null;
    return parsed.data;
  };

  const keyOf = async (request: CacheKeyRequest): Promise<CacheKey> => {
    const kind = requireKind(kinds, request.uses, 'Cache key');
    return computeStepCacheKey(store, kind, request, await environmentFor(request, kind));
  };

  return {
    /** The key of a step (sha256 of its parts); kept for workflows started before keys had parts. */
    async computeCacheKey(request: CacheKeyRequest): Promise<string> {
      return (await keyOf(request)).key;
    },

    /** The key of a step and the parts it is the hash of (kind, version, code, engine, params, artifact contents). */
    async computeCacheKeyParts(request: CacheKeyRequest): Promise<CacheKey> {
      return keyOf(request);
    },

    /** The recorded entry for `key`, or `null` on a miss, without checking its artifacts (workflows started before verified hits). */
    async lookupCache(key: string): Promise<CacheEntry | null> {
      return readEntry(key);
    },

    /** The entry for `key` if every artifact its outputs name is still there, unchanged; else why not. */
    async lookupVerifiedCache(key: string): Promise<CacheLookup> {
      const entry = await readEntry(key);
      if (entry === null) return { status: 'miss' };
      const kind = kinds(entry.uses);
      if (kind === undefined) return { status: 'miss' };
      const reason = await staleArtifactReason(store, kind, entry);
      return reason === undefined ? { status: 'hit', entry } : { status: 'stale', reason, from: entry.workflowId };
    },

    /** Records a step's outputs and the sha256 of their artifacts under its key (last writer wins; equal keys mean equal work). */
    async recordCache(record: CacheRecord): Promise<CacheEntry> {
      const kind = requireKind(kinds, record.uses, 'Cache record');
      const artifacts: Record<string, RecordedArtifact> = {};
      // Artifacts whose outputs carry their own sha256 (a run step's files and folders) need no second record.
      for (const { key, sha256 } of outputArtifacts(kind, record.outputs)) {
        if (sha256 === undefined) artifacts[key] ??= await recordArtifact(store, key);
      }
      const entry: CacheEntry = { ...record, version: kind.version, recordedAt: new Date().toISOString(), artifacts };
      await store.putJson(cacheEntryKey(record.key), entry);
      return entry;
    },
  };
}

export type StepCacheActivities = ReturnType<typeof createStepCacheActivities>;
