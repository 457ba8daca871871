import { z } from 'zod';
import { canonicalJson } from './canonical-json.ts';

/**
 * What a step's cache key is made of. The key is the sha256 of the canonical JSON of these parts
 * (activities/step-cache.ts); each cache entry records its parts, so `mlp cache explain` can
 * compare the parts a step has now with those of the entry it hit last time and say which one
 * changed. Sandbox-safe: plain data and a pure diff, no hashing.
 */
export interface CacheKeyParts {
  /** The step kind (`uses:`). */
  uses: string;
  /** The kind's hand-written implementation version (`version:` in common/step-kinds/<kind>.ts). */
  version: string;
  /**
   * Fingerprint of the code that computes the step: sha256 of the module graph of
   * activities/steps/<kind>.ts (every file it imports at run time, transitively, and the exact
   * versions of the npm packages among them), computed once when the worker starts.
   */
  code: string;
  /**
   * The training engine of the worker for kinds whose results differ by engine (train, evaluate),
   * the interpreter's version for a run step with `python:` (`python 3.12.3`); `null` otherwise.
   */
  engine: string | null;
  /** sha256 of the canonical JSON of the step's inputs other than artifacts (seed, epochs, model, …). */
  params: string;
  /** Artifact inputs by field, each object key replaced by `sha256:<content hash>` (arrays stay arrays). */
  inputs: Record<string, unknown>;
}

/** The parts as a cache entry records them (read back by the cache activities and `mlp cache explain`). */
export const CacheKeyPartsSchema = z.object({
  uses: z.string(),
  version: z.string(),
  code: z.string(),
  engine: z.string().nullable(),
  params: z.string(),
  inputs: z.record(z.string(), z.unknown()),
}) satisfies z.ZodType<CacheKeyParts>;

/** The parts of a key, in the order `mlp cache explain` names them. */
export const CACHE_KEY_PARTS = ['uses', 'version', 'code', 'engine', 'params', 'inputs'] as const satisfies readonly (keyof CacheKeyParts)[];
export type CacheKeyPart = (typeof CACHE_KEY_PARTS)[number];

/** Equal as JSON values, whatever the key order (how the key itself sees them). */
function sameValue(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** The parts that differ between two keys' parts (empty: the keys are equal), in `CACHE_KEY_PARTS` order. */
export function changedCacheKeyParts(before: CacheKeyParts, after: CacheKeyParts): CacheKeyPart[] {
  return CACHE_KEY_PARTS.filter((part) => !sameValue(before[part], after[part]));
}

/** The artifact input fields whose content changed between two keys' parts (for `--explain`). */
export function changedArtifactInputs(before: CacheKeyParts, after: CacheKeyParts): string[] {
  const fields = new Set([...Object.keys(before.inputs), ...Object.keys(after.inputs)]);
  return [...fields].sort().filter((field) => !sameValue(before.inputs[field], after.inputs[field]));
}
