import type * as tfl from '@tensorflow/tfjs-layers';
import { assignKerasWeights } from './assign-keras-weights.ts';
import { readKerasWeights } from './keras-h5.ts';
import { fetchWeightsFile, type KerasH5Reference, type WeightsSourceDeps } from './weights-source.ts';

/** What loading a backbone's Keras weights did, for logs and tests. */
export interface LoadedKerasWeights {
  sha256: string;
  bytes: number;
  from: 'store' | 'source';
  storedKey?: string;
  layers: number;
  weights: number;
}

/** Fetches (verified, from object storage when pinned and stored) and sets every weight of `model` from a Keras .h5 file. */
export async function loadKerasWeights(model: tfl.LayersModel, reference: KerasH5Reference, deps: WeightsSourceDeps): Promise<LoadedKerasWeights> {
  const where = reference.shorthand ? `${reference.shorthand} (${reference.location})` : reference.location;
  const file = await fetchWeightsFile(reference, deps);
  try {
    const assigned = assignKerasWeights(model, await readKerasWeights(file.path, where), where);
    // Stored only now: a file that failed to load is never kept for later runs.
    const storedKey = await file.keep();
    const loaded = { sha256: file.sha256, bytes: file.bytes, from: file.from, ...(storedKey ? { storedKey } : {}), ...assigned };
    deps.log.info('Backbone weights loaded', { source: where, ...loaded });
    return loaded;
  } finally {
    await file.release();
  }
}
