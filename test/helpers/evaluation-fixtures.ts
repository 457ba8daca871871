import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { datasetKeys, manifestText, type DatasetSplit, type SplitManifest } from '../../common/dataset-manifest.ts';
import { createRandom } from '../../common/prng.ts';
import { encodeNpyUint8 } from '../../activities/data/npy.ts';
import { loadSplitPixels } from '../../activities/data/split-reader.ts';
import type { ObjectStore } from '../../activities/object-store.ts';
import { saveModelToStore } from '../../activities/model-io/layers-model-io.ts';

/**
 * A tiny image classifier and split manifests in a real bucket, for evaluate and publish tests:
 * 16×16 gray images stored as the subset step stores them (uint8 `.npy`) where PNEUMONIA images are brighter than NORMAL ones (plus noise), and a
 * global-average-pooling → softmax model trained on them in a few epochs.
 */

export const FIXTURE_CLASSES = ['NORMAL', 'PNEUMONIA'] as const;
export const FIXTURE_SIZE = 16;
const PREPROCESSING = { width: FIXTURE_SIZE, height: FIXTURE_SIZE, channels: 3, fit: 'fill' } as const;
const DATASET_HASH = createHash('sha256').update('evaluation-fixture-dataset').digest('hex');

function pixels(label: number, seed: string): Uint8Array {
  const random = createRandom('fixture-image', seed);
  const out = new Uint8Array(FIXTURE_SIZE * FIXTURE_SIZE);
  // Each image's brightness is shifted at random, so the classes overlap: the model is good but
  // not perfect (ROC AUC below 1).
  const mean = (label === 1 ? 140 : 105) + (random() - 0.5) * 80;
  for (let p = 0; p < FIXTURE_SIZE * FIXTURE_SIZE; p++) {
    const value = Math.max(0, Math.min(255, Math.round(mean + (random() - 0.5) * 180)));
    out[p] = value;
  }
  return out;
}

/** Writes `perClass` images of each class and the split manifest; returns the manifest key. */
export async function writeSplit(store: ObjectStore, split: DatasetSplit, perClass: number, tag: string): Promise<{ key: string; manifest: SplitManifest }> {
  const drawn: Array<{ sha256: string; path: string; class: string; label: number; gray: Uint8Array }> = [];
  for (const [label, name] of FIXTURE_CLASSES.entries()) {
    for (let i = 0; i < perClass; i++) {
      const gray = pixels(label, `${tag}-${split}-${name}-${i}`);
      const sha256 = createHash('sha256').update(gray).digest('hex');
      drawn.push({ sha256, path: `${split}/${name}/${tag}-${i}.png`, class: name, label, gray });
    }
  }
  drawn.sort((a, b) => a.sha256.localeCompare(b.sha256));
  // One shard holds the whole split, as the subset step stores it.
  const shard = datasetKeys.shard(createHash('sha256').update(drawn.map((image) => image.sha256).join('\n')).digest('hex'), PREPROCESSING);
  const rows = new Uint8Array(drawn.length * FIXTURE_SIZE * FIXTURE_SIZE);
  drawn.forEach((image, row) => rows.set(image.gray, row * FIXTURE_SIZE * FIXTURE_SIZE));
  await store.put(shard, encodeNpyUint8(rows, [drawn.length, FIXTURE_SIZE, FIXTURE_SIZE]), 'application/octet-stream');
  const images: SplitManifest['images'] = drawn.map(({ gray: _gray, ...image }, row) => ({ ...image, key: shard, row }));
  const manifest: SplitManifest = {
    version: 2,
    datasetHash: DATASET_HASH,
    split,
    classes: [...FIXTURE_CLASSES],
    preprocessing: PREPROCESSING,
    classCounts: Object.fromEntries(FIXTURE_CLASSES.map((name) => [name, perClass])),
    images,
  };
  const text = manifestText(manifest);
  const key = datasetKeys.split(DATASET_HASH, createHash('sha256').update(text).digest('hex'));
  await store.put(key, text, 'application/json');
  return { key, manifest };
}

/** Loads a split's images as a [n, 16, 16, 3] tensor scaled to [0, 1] and one-hot labels. */
async function splitTensors(store: ObjectStore, manifest: SplitManifest): Promise<{ x: tf.Tensor4D; y: tf.Tensor2D }> {
  const { pixels } = await loadSplitPixels(store, manifest);
  const values = Float32Array.from({ length: pixels.length * 3 }, (_, i) => (pixels[Math.floor(i / 3)] ?? 0) / 255);
  const y = tf.tensor2d(manifest.images.map((image) => FIXTURE_CLASSES.map((_, c) => (c === image.label ? 1 : 0))));
  return { x: tf.tensor4d(values, [manifest.images.length, FIXTURE_SIZE, FIXTURE_SIZE, 3]), y };
}

/** Trains the tiny model on `train` and saves it (engine format) under `prefix`; returns the history. */
export async function trainTinyClassifier(store: ObjectStore, train: SplitManifest, prefix: string): Promise<Array<{ epoch: number; loss: number; accuracy: number }>> {
  const model = tfl.sequential({
    layers: [
      tfl.layers.globalAveragePooling2d({ inputShape: [FIXTURE_SIZE, FIXTURE_SIZE, 3] }),
      tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.2), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const { x, y } = await splitTensors(store, train);
  try {
    const fit = await model.fit(x, y, { epochs: 25, batchSize: 16, shuffle: false, verbose: 0 });
    await saveModelToStore(store, prefix, model);
    const losses = fit.history.loss ?? [];
    return losses.map((loss, i) => ({ epoch: i + 1, loss: Number(loss), accuracy: Number(fit.history.acc?.[i] ?? 0) }));
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
}
