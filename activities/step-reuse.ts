import { SplitManifestSchema } from '../common/dataset-manifest.ts';
import type { StepOutputs } from '../common/step-activities.ts';
import { findStepKind } from '../common/step-kinds/index.ts';
import type { ActivityDeps } from './deps.ts';
import type { ObjectStore } from './object-store.ts';
import { changedSelfHashedArtifact, outputArtifacts, type CacheableKindLookup } from './step-cache.ts';

/**
 * `mlp rerun` reuses an earlier run's step outputs instead of running the step again; before it
 * does, every artifact those outputs name must still be in the object store. This is an activity
 * because the workflow sandbox cannot do I/O.
 */

/** Strings in any output that are object keys of artifacts, declared by the step kind or not. */
const ARTIFACT_KEY = /^(runs|datasets|models)\//;

/** Every artifact key among the outputs (nested objects and arrays included), in order. */
export function artifactKeys(value: unknown): string[] {
  if (typeof value === 'string') return ARTIFACT_KEY.test(value) ? [value] : [];
  if (Array.isArray(value)) return value.flatMap((item) => artifactKeys(item));
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap((item) => artifactKeys(item));
  return [];
}

/** A key ending in `/` names a prefix (a folder of shards): it exists when it holds an object. */
async function artifactExists(store: ObjectStore, key: string): Promise<boolean> {
  if (key.endsWith('/')) return (await store.list(key)).length > 0;
  return store.exists(key);
}

/**
 * Shards a split manifest among the keys names (its images' `key`s), each with the manifest
 * naming it. A reused subset is only whole if its shards are still there: `mlp gc` may have
 * removed the shards of a run older than the runs it keeps while the manifests stay.
 */
async function shardsOfSplitManifests(store: ObjectStore, keys: readonly string[]): Promise<Map<string, string>> {
  const shards = new Map<string, string>();
  for (const key of keys.filter((candidate) => candidate.endsWith('.json'))) {
    const manifest = SplitManifestSchema.safeParse(await store.getJson(key));
    if (!manifest.success) continue;
    for (const image of manifest.data.images) if (!shards.has(image.key)) shards.set(image.key, key);
  }
  return shards;
}

export interface ReuseCheckRequest {
  stepId: string;
  /** The step's kind: the outputs it declares as artifacts are verified, whatever their prefix. */
  uses?: string;
  /** The earlier run, `<workflowId>/<runId>`. */
  from: string;
  outputs: StepOutputs;
}

export type ReuseCheck = { reusable: true; from: string; outputs: StepOutputs } | { reusable: false; from: string; reason: string };

export function createStepReuseActivities({ store }: ActivityDeps, kinds: CacheableKindLookup = findStepKind) {
  return {
    /** Whether the outputs can be reused: all their artifacts exist; otherwise which do not. */
    async verifyReusedOutputs(request: ReuseCheckRequest): Promise<ReuseCheck> {
      const kind = request.uses === undefined ? undefined : kinds(request.uses);
      const declared = kind === undefined ? [] : outputArtifacts(kind, request.outputs);
      const missing: string[] = [];
      // Artifacts that carry their sha256 (a run step's files and folders) are checked against it.
      for (const artifact of declared) {
        if (artifact.sha256 === undefined) continue;
        const changed = await changedSelfHashedArtifact(store, { ...artifact, sha256: artifact.sha256 });
        if (changed !== undefined) return { reusable: false, from: request.from, reason: changed };
      }
      const selfHashed = new Set(declared.flatMap(({ key, sha256 }) => (sha256 === undefined ? [] : [key])));
      const keys = [...new Set([...declared.map(({ key }) => key), ...artifactKeys(request.outputs)])].filter((key) => !selfHashed.has(key));
      for (const key of keys) {
        if (!(await artifactExists(store, key))) missing.push(key);
      }
      if (missing.length === 0) {
        for (const [shard, manifest] of await shardsOfSplitManifests(store, keys)) {
          if (!(await store.exists(shard))) missing.push(`${shard} (named by ${manifest})`);
        }
      }
      if (missing.length > 0) {
        const more = missing.length > 3 ? ` and ${missing.length - 3} more` : '';
        return { reusable: false, from: request.from, reason: `artifact missing: ${missing.slice(0, 3).join(', ')}${more}` };
      }
      return { reusable: true, from: request.from, outputs: request.outputs };
    },
  };
}

export type StepReuseActivities = ReturnType<typeof createStepReuseActivities>;
