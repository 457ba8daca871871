import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from '../common/canonical-json.ts';
import { ArtifactNotFoundError, PipelineSpecError } from '../common/errors.ts';
import type { StepOutputs } from '../common/step-activities.ts';
import { findStepKind } from '../common/step-kinds/index.ts';
import { objectSha256 } from './content-hash.ts';
import type { ActivityDeps } from './deps.ts';
import type { ObjectStore } from './object-store.ts';

/**
 * The step cache. A step's key is the sha256 of its kind, the kind's implementation version and
 * its resolved inputs with every artifact input replaced by the artifact's *content* hash: a key
 * over object names would hit after a file changed under the same name. Entries are JSON objects
 * under `cache/<key>.json`. These are activities because hashing needs crypto and I/O, which the
 * workflow sandbox has not.
 */

/** What the cache needs to know about a step kind. */
export interface CacheableKind {
  version: string;
  artifactInputs: readonly string[];
}

/** Finds a step kind by `uses`; the registry by default, test kinds in tests. */
export type CacheableKindLookup = (uses: string) => CacheableKind | undefined;

export interface CacheKeyRequest {
  uses: string;
  /** The step's `with:` after every reference was resolved. */
  inputs: Record<string, unknown>;
}

export interface CacheRecord {
  key: string;
  uses: string;
  outputs: StepOutputs;
  workflowId: string;
  stepId: string;
}

const cacheEntrySchema = z.object({
  key: z.string(),
  uses: z.string(),
  version: z.string(),
  outputs: z.record(z.string(), z.unknown()),
  workflowId: z.string(),
  stepId: z.string(),
  recordedAt: z.string(),
});

export type CacheEntry = z.infer<typeof cacheEntrySchema>;

export function cacheEntryKey(key: string): string {
  return `cache/${key}.json`;
}

function requireKind(kinds: CacheableKindLookup, uses: string, operation: string): CacheableKind {
  const kind = kinds(uses);
  if (kind === undefined) throw new PipelineSpecError(`${operation} failed: unknown step kind "${uses}"`);
  return kind;
}

async function hashArtifact(store: ObjectStore, uses: string, field: string, value: unknown): Promise<unknown> {
  if (typeof value === 'string') return `sha256:${await objectSha256(store, value)}`;
  if (Array.isArray(value)) return Promise.all(value.map((item) => hashArtifact(store, uses, field, item)));
  if (value === undefined) return undefined;
  throw new PipelineSpecError(`Cannot compute cache key of a ${uses} step: artifact input "${field}" is not an object key`);
}

/** The cache key of a step; pure apart from reading artifacts (exported for tests and `plan`). */
export async function computeStepCacheKey(store: ObjectStore, kind: CacheableKind, request: CacheKeyRequest): Promise<string> {
  const inputs: Record<string, unknown> = { ...request.inputs };
  for (const field of kind.artifactInputs) {
    if (Object.hasOwn(inputs, field)) inputs[field] = await hashArtifact(store, request.uses, field, inputs[field]);
  }
  const material = canonicalJson({ uses: request.uses, version: kind.version, inputs });
  return createHash('sha256').update(material).digest('hex');
}

export function createStepCacheActivities({ store }: ActivityDeps, kinds: CacheableKindLookup = findStepKind) {
  return {
    /** sha256 over kind, version and inputs with artifact inputs replaced by their content hash. */
    async computeCacheKey(request: CacheKeyRequest): Promise<string> {
      return computeStepCacheKey(store, requireKind(kinds, request.uses, 'Cache key'), request);
    },

    /** The recorded entry for `key`, or `null` on a miss (the kind version is part of the key). */
    async lookupCache(key: string): Promise<CacheEntry | null> {
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
    },

    /** Records a step's outputs under its key (last writer wins; equal keys mean equal work). */
    async recordCache(record: CacheRecord): Promise<CacheEntry> {
      const kind = requireKind(kinds, record.uses, 'Cache record');
      const entry: CacheEntry = { ...record, version: kind.version, recordedAt: new Date().toISOString() };
      await store.putJson(cacheEntryKey(record.key), entry);
      return entry;
    },
  };
}

export type StepCacheActivities = ReturnType<typeof createStepCacheActivities>;
