import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { ArtifactNotFoundError, PipelineSpecError } from '../../common/errors.ts';
import type { ObjectStore } from '../object-store.ts';

/**
 * TF.js layers models as files: `model.json` (topology + weights manifest) and weight shards.
 * Reads from a URL, a local path or the object store and loads through `tf.io.fromMemory`, so
 * no tfjs-node file or HTTP handler is needed. Writes the same format back (one shard).
 */

const WeightSpecSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().min(0)),
  dtype: z.enum(['float32', 'int32', 'bool', 'string', 'complex64']),
  quantization: z
    .object({ scale: z.number().optional(), min: z.number().optional(), dtype: z.enum(['uint16', 'uint8', 'float16']) })
    .optional(),
});

export const ModelJsonSchema = z.object({
  format: z.string().optional(),
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z.array(z.object({ paths: z.array(z.string().min(1)), weights: z.array(WeightSpecSchema) })),
  /** What `model.setUserDefinedMetadata` stored (a train step writes classes and input scaling). */
  userDefinedMetadata: z.record(z.string(), z.unknown()).optional(),
});
export type ModelJson = z.infer<typeof ModelJsonSchema>;

/** A model's files in memory: what `tf.io.fromMemory` takes, plus the parsed `model.json`. */
export interface LayersModelFiles {
  modelJson: ModelJson;
  /** All shards concatenated in manifest order. */
  weightData: ArrayBuffer;
  weightSpecs: tf.io.WeightsManifestEntry[];
}

/** Reads one file of a model, by path relative to `model.json`. */
type ReadRelative = (relativePath: string) => Promise<Uint8Array>;

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/** Parses `model.json` and reads its shards with `read`. `where` names the model in errors. */
export async function readLayersModelFiles(modelJsonBytes: Uint8Array, read: ReadRelative, where: string): Promise<LayersModelFiles> {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(modelJsonBytes).toString('utf8'));
  } catch (error) {
    throw new PipelineSpecError(`Load model failed: ${where} is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const parsed = ModelJsonSchema.safeParse(raw);
  if (!parsed.success) {
    throw new PipelineSpecError(`Load model failed: ${where} is not a TF.js layers model.json (${z.prettifyError(parsed.error)})`);
  }
  const modelJson = parsed.data;
  const shards: ArrayBuffer[] = [];
  for (const group of modelJson.weightsManifest) {
    for (const path of group.paths) shards.push(toArrayBuffer(await read(path)));
  }
  return {
    modelJson,
    weightData: tf.io.CompositeArrayBuffer.join(shards),
    weightSpecs: modelJson.weightsManifest.flatMap((group) => group.weights),
  };
}

/** Where a model lives, as written in a pipeline: `https://…/model.json`, `s3://<bucket>/<key>` or a local path. */
export async function fetchLayersModelFiles(location: string, store: ObjectStore | undefined): Promise<LayersModelFiles> {
  if (/^https?:\/\//.test(location)) {
    const get = async (url: URL): Promise<Uint8Array> => {
      const response = await fetch(url);
      if (!response.ok) throw new ArtifactNotFoundError(`Download model failed with status ${response.status}: GET ${url.href}`);
      return new Uint8Array(await response.arrayBuffer());
    };
    const base = new URL(location);
    return readLayersModelFiles(await get(base), (path) => get(new URL(path, base)), location);
  }
  if (location.startsWith('s3://')) {
    if (!store) throw new PipelineSpecError(`Load model failed: ${location} needs an object store`);
    const [bucket = '', ...rest] = location.slice('s3://'.length).replace(/\/$/, '').split('/');
    if (bucket !== store.bucket) {
      throw new PipelineSpecError(`Load model failed: ${location} is in bucket '${bucket}', but this worker's object store is bucket '${store.bucket}'`);
    }
    const key = rest.join('/');
    const jsonKey = key.endsWith('.json') ? key : `${key}/model.json`;
    const prefix = jsonKey.slice(0, jsonKey.lastIndexOf('/') + 1);
    return readLayersModelFiles(await store.get(jsonKey), (path) => store.get(`${prefix}${path}`), location);
  }
  const jsonPath = location.endsWith('.json') ? location : join(location, 'model.json');
  const readLocal = async (path: string): Promise<Uint8Array> => {
    try {
      return await readFile(path);
    } catch (error) {
      throw new ArtifactNotFoundError(`Read model file failed: ${path} (${error instanceof Error ? error.message : String(error)})`);
    }
  };
  return readLayersModelFiles(await readLocal(jsonPath), (path) => readLocal(join(dirname(jsonPath), path)), jsonPath);
}

/** Builds a layers model (topology, weights and user metadata such as its preprocessing) from its files. */
export async function loadLayersModel(files: LayersModelFiles): Promise<tfl.LayersModel> {
  const { modelTopology, userDefinedMetadata } = files.modelJson;
  return tfl.loadLayersModel(
    tf.io.fromMemory({ modelTopology, weightSpecs: files.weightSpecs, weightData: files.weightData, ...(userDefinedMetadata ? { userDefinedMetadata } : {}) }),
  );
}

/** A model serialized as `model.json` plus one shard `weights.bin`. */
export interface SerializedModel {
  modelJson: ModelJson;
  weights: Uint8Array;
}

export const WEIGHTS_FILE = 'weights.bin';

/** Serializes a model in the TF.js layers format (what `tfjs_converter` and `model.save` write). */
export async function serializeModel(model: tfl.LayersModel): Promise<SerializedModel> {
  let saved: SerializedModel | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const topology = z.record(z.string(), z.unknown()).parse(artifacts.modelTopology);
      const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      saved = {
        modelJson: {
          format: 'layers-model',
          modelTopology: topology,
          weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
          ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
        },
        weights: new Uint8Array(weightData),
      };
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (!saved) throw new Error(`Serialize model failed: ${model.name} produced no artifacts`);
  return saved;
}

/** Writes a model under `<prefix>/model.json` and `<prefix>/weights.bin`; returns the model.json key. */
export async function saveModelToStore(store: ObjectStore, prefix: string, model: tfl.LayersModel): Promise<string> {
  const { modelJson, weights } = await serializeModel(model);
  // Shard first: a reader that finds model.json finds its weights too.
  await store.put(`${prefix}/${WEIGHTS_FILE}`, Buffer.from(weights));
  await store.putJson(`${prefix}/model.json`, modelJson);
  return `${prefix}/model.json`;
}
