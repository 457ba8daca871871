import pLimit from 'p-limit';
import { ModelRegistryError } from '../../common/errors.ts';
import type { ModelFormat } from '../../common/model-registry.ts';
import { modelJsonKey } from '../evaluation/trained-model.ts';
import { SHA256_METADATA_KEY, type ObjectStore } from '../object-store.ts';
import { ModelJsonSchema } from '../training/layers-model-io.ts';

/** Objects copied at once from an artifact folder. */
const COPY_CONCURRENCY = 4;

/** Copies one object, keeping the sha256 its writer recorded (so hashing the copy needs no read). */
async function copyObject(store: ObjectStore, source: string, target: string, contentType?: string): Promise<void> {
  const recorded = (await store.stat(source))?.metadata[SHA256_METADATA_KEY];
  await store.put(target, await store.getStream(source), contentType, recorded ? { [SHA256_METADATA_KEY]: recorded } : {});
}

/** Copies a TF.js layers model (model.json and the shards it lists) to `target/`; returns the keys written. */
async function copyTfjsModel(store: ObjectStore, source: string, target: string): Promise<string[]> {
  const jsonKey = modelJsonKey(source);
  const parsed = ModelJsonSchema.safeParse(await store.getJson(jsonKey));
  if (!parsed.success) throw new ModelRegistryError(`Publish failed: ${jsonKey} is not a TF.js layers model.json (set format: onnx or other for another kind of model)`);
  const sourcePrefix = jsonKey.slice(0, jsonKey.lastIndexOf('/') + 1);
  const shards = parsed.data.weightsManifest.flatMap((group) => group.paths);
  const written: string[] = [];
  // Shards first: a reader that finds model.json finds its weights too.
  for (const path of shards) {
    await store.put(`${target}/${path}`, await store.get(`${sourcePrefix}${path}`));
    written.push(`${target}/${path}`);
  }
  await store.put(`${target}/model.json`, await store.get(jsonKey), 'application/json');
  written.push(`${target}/model.json`);
  return written;
}

/**
 * The objects of an artifact and the part of each key kept under the target: one file (a key
 * that names an object) keeps its base name; a folder (a key ending in `/`, or a prefix with
 * objects under `<key>/`) keeps every path under it.
 */
async function artifactObjects(store: ObjectStore, source: string): Promise<{ key: string; relative: string }[]> {
  if (!source.endsWith('/') && (await store.exists(source))) return [{ key: source, relative: source.slice(source.lastIndexOf('/') + 1) }];
  const prefix = source.endsWith('/') ? source : `${source}/`;
  const keys = (await store.list(prefix)).sort();
  if (keys.length === 0) throw new ModelRegistryError(`Publish failed: the model ${source} names no object and no folder with objects in it`);
  return keys.map((key) => ({ key, relative: key.slice(prefix.length) }));
}

/** Copies an artifact (a folder, or a single file) as it is to `target/`; returns the keys written. */
async function copyArtifact(store: ObjectStore, source: string, target: string, format: Exclude<ModelFormat, 'tfjs'>): Promise<string[]> {
  const objects = await artifactObjects(store, source);
  if (format === 'onnx' && !objects.some(({ relative }) => relative.endsWith('.onnx'))) {
    throw new ModelRegistryError(`Publish failed: format: onnx, but ${source} holds no .onnx file (${objects.slice(0, 5).map(({ relative }) => relative).join(', ')})`);
  }
  const limit = pLimit(COPY_CONCURRENCY);
  return Promise.all(
    objects.map(({ key, relative }) =>
      limit(async () => {
        await copyObject(store, key, `${target}/${relative}`);
        return `${target}/${relative}`;
      }),
    ),
  );
}

/** Copies a model of the given format from `source` to the folder `target` (no trailing slash); returns the keys written. */
export async function copyModel(store: ObjectStore, source: string, target: string, format: ModelFormat): Promise<string[]> {
  return format === 'tfjs' ? copyTfjsModel(store, source, target) : copyArtifact(store, source, target, format);
}
