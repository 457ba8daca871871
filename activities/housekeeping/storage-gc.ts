import { Context } from '@temporalio/activity';
import pLimit from 'p-limit';
import { z } from 'zod';
import { ArtifactNotFoundError } from '../../common/errors.ts';
import { GC_CLASSES, GC_LISTED_KEYS, stringsIn, type GcClass, type GcClassReport, type StorageGcReport, type StorageGcRequest } from '../../common/storage-gc.ts';
import type { ActivityDeps } from '../deps.ts';
import type { ObjectStore } from '../object-store.ts';
import { listModelNames, listVersions } from '../registry/registry.ts';

/**
 * `mlp gc`: deletes step-cache entries, preprocessed shards and backbone features that no kept
 * run, no entry of a kept run and no registered model's run refers to. The referenced set is
 * computed completely before anything is deleted, and deletion goes from references to what they
 * point at (cache entries, then shards, then features), so no surviving entry ever leads to a
 * deleted object. Registered models are self-contained under `models/` and never touched; nor
 * are datasets, split manifests, run artifacts or weights.
 */

const CACHE_PREFIX = 'cache/';
const SHARD_PREFIX = 'datasets/preprocessed/';
const FEATURE_PREFIX = 'features/';
const SPLIT_MANIFEST = /^datasets\/[0-9a-f]{64}\/splits\/[0-9a-f]{64}\.json$/;
const CACHE_ENTRY = /^cache\/(.+)\.json$/;
/** Feature keys end in the image's sha256 (`…/<sha256>.bin` or `…/<index>-<sha256>.bin`). */
const FEATURE_IMAGE = /([0-9a-f]{64})\.bin$/;

const entryReferencesSchema = z.object({ workflowId: z.string(), outputs: z.record(z.string(), z.unknown()) });
const splitReferencesSchema = z.object({ images: z.array(z.object({ sha256: z.string(), key: z.string().optional() })) });

interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
}

/** What a plan found: the objects to delete by class, and how many of each stay. */
export interface StorageGcPlan {
  keptRuns: string[];
  registryRuns: string[];
  remove: Record<GcClass, StoredObject[]>;
  kept: Record<GcClass, number>;
}

async function readJsonOrUndefined(store: ObjectStore, key: string): Promise<unknown> {
  try {
    return await store.getJson(key);
  } catch (error) {
    if (error instanceof ArtifactNotFoundError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** Runs that published a registered version: their cache entries stay like a kept run's. */
async function registryRuns(store: ObjectStore): Promise<string[]> {
  const runs = new Set<string>();
  for (const name of await listModelNames(store)) {
    for (const record of await listVersions(store, name)) runs.add(record.lineage.workflowId);
  }
  return [...runs].sort();
}

/** Shards and images the split manifests among `strings` point at (missing manifests add nothing). */
async function splitReferences(store: ObjectStore, strings: Iterable<string>, limit: ReturnType<typeof pLimit>) {
  const shards = new Set<string>();
  const images = new Set<string>();
  const manifests = [...strings].filter((value) => SPLIT_MANIFEST.test(value));
  await Promise.all(
    manifests.map((key) =>
      limit(async () => {
        const parsed = splitReferencesSchema.safeParse(await readJsonOrUndefined(store, key));
        if (!parsed.success) return;
        for (const image of parsed.data.images) {
          images.add(image.sha256);
          if (image.key !== undefined) shards.add(image.key);
        }
      }),
    ),
  );
  return { shards, images };
}

/** Computes what `mlp gc` would delete; reads only. */
export async function planStorageGc(store: ObjectStore, request: StorageGcRequest, now: Date = new Date()): Promise<StorageGcPlan> {
  const limit = pLimit(16);
  const young = (object: StoredObject): boolean => now.getTime() - object.lastModified.getTime() < request.graceMs;
  const fromRegistry = await registryRuns(store);
  const keptRuns = new Set([...request.keptRuns.map((run) => run.workflowId), ...fromRegistry]);
  const hitKeys = new Set(request.keptRuns.flatMap((run) => run.cacheKeys));
  const referenced = new Set(request.keptRuns.flatMap((run) => run.outputStrings));

  const remove: Record<GcClass, StoredObject[]> = { cacheEntries: [], shards: [], features: [] };
  const kept: Record<GcClass, number> = { cacheEntries: 0, shards: 0, features: 0 };
  const decide = (kind: GcClass, object: StoredObject, keep: boolean): void => {
    if (keep || young(object)) kept[kind] += 1;
    else remove[kind].push(object);
  };

  // Cache entries: kept when a kept run wrote or hit them; their outputs then count as references.
  const entries = await store.listWithInfo(CACHE_PREFIX);
  await Promise.all(
    entries.map((object) =>
      limit(async () => {
        const key = CACHE_ENTRY.exec(object.key)?.[1];
        const entry = entryReferencesSchema.safeParse(await readJsonOrUndefined(store, object.key));
        const keep = (key !== undefined && hitKeys.has(key)) || (entry.success && keptRuns.has(entry.data.workflowId));
        // A young entry stays too, and so must what it points at.
        if ((keep || young(object)) && entry.success) stringsIn(entry.data.outputs, referenced);
        decide('cacheEntries', object, keep);
      }),
    ),
  );

  const { shards, images } = await splitReferences(store, referenced, limit);
  for (const object of await store.listWithInfo(SHARD_PREFIX)) decide('shards', object, shards.has(object.key));
  for (const object of await store.listWithInfo(FEATURE_PREFIX)) {
    const image = FEATURE_IMAGE.exec(object.key)?.[1];
    // A key of unknown shape is not ours to judge: keep it.
    decide('features', object, image === undefined || images.has(image));
  }
  for (const kind of GC_CLASSES) remove[kind].sort((a, b) => a.key.localeCompare(b.key));
  return { keptRuns: [...keptRuns].sort(), registryRuns: fromRegistry, remove, kept };
}

/**
 * Shards that split manifests written within the grace period point at: a subset step still
 * running may have reused an old shard no run has recorded yet. Checked again just before shards
 * are deleted, to narrow that window to the deletion itself.
 */
async function recentlyReferencedShards(store: ObjectStore, graceMs: number, now: Date): Promise<Set<string>> {
  const recent = (await store.listWithInfo('datasets/'))
    .filter((object) => SPLIT_MANIFEST.test(object.key) && now.getTime() - object.lastModified.getTime() < graceMs)
    .map((object) => object.key);
  return (await splitReferences(store, recent, pLimit(16))).shards;
}

function classReport(objects: readonly StoredObject[], kept: number): GcClassReport {
  return {
    count: objects.length,
    bytes: objects.reduce((sum, object) => sum + object.size, 0),
    keys: objects.slice(0, GC_LISTED_KEYS).map((object) => object.key),
    kept,
  };
}

export function gcReport(plan: StorageGcPlan, applied: boolean): StorageGcReport {
  const removed = {
    cacheEntries: classReport(plan.remove.cacheEntries, plan.kept.cacheEntries),
    shards: classReport(plan.remove.shards, plan.kept.shards),
    features: classReport(plan.remove.features, plan.kept.features),
  };
  const totalBytes = GC_CLASSES.reduce((sum, kind) => sum + removed[kind].bytes, 0);
  return { applied, keptRuns: plan.keptRuns, registryRuns: plan.registryRuns, removed, totalBytes };
}

/** Plans and, with `apply`, deletes: cache entries first, then shards, then features. */
export async function pruneStorageObjects(
  store: ObjectStore,
  request: StorageGcRequest,
  options: { now?: Date; progress?: (deleted: number) => void } = {},
): Promise<StorageGcReport> {
  const now = options.now ?? new Date();
  const plan = await planStorageGc(store, request, now);
  if (!request.apply) return gcReport(plan, false);
  const recent = await recentlyReferencedShards(store, request.graceMs, now);
  const spared = plan.remove.shards.filter((object) => recent.has(object.key));
  plan.remove.shards = plan.remove.shards.filter((object) => !recent.has(object.key));
  plan.kept.shards += spared.length;
  const limit = pLimit(16);
  let deleted = 0;
  for (const kind of GC_CLASSES) {
    // One class at a time: every entry is gone before the first shard it could lead to.
    await Promise.all(
      plan.remove[kind].map((object) =>
        limit(async () => {
          await store.remove(object.key);
          deleted += 1;
          options.progress?.(deleted);
        }),
      ),
    );
  }
  return gcReport(plan, true);
}

export function createStorageGcActivities({ store }: ActivityDeps) {
  return {
    /** `mlp gc`: reports (and with `apply` deletes) unreferenced cache entries, shards and features. */
    async pruneStorageObjects(request: StorageGcRequest): Promise<StorageGcReport> {
      return pruneStorageObjects(store, request, { progress: (deleted) => Context.current().heartbeat({ deleted }) });
    },
  };
}

export type StorageGcActivities = ReturnType<typeof createStorageGcActivities>;
