import type * as tfl from '@tensorflow/tfjs-layers';
import { PipelineSpecError } from '../../common/errors.ts';
import type { BackboneName, Trainable } from '../../common/model-spec.ts';

/**
 * Applies `model.trainable` to a feature extractor's layers. Layer names are only known once the
 * backbone is loaded (a TF.js model.json names them), so `{ from }` is checked here, at build time.
 */

/** Levenshtein distance, for suggesting the layer a misspelt name meant. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** Up to `count` names closest to `name`, closest first (ties in layer order). */
export function nearestNames(name: string, names: readonly string[], count = 5): string[] {
  return names
    .map((candidate, index) => ({ candidate, index, distance: editDistance(name.toLowerCase(), candidate.toLowerCase()) }))
    .sort((a, b) => a.distance - b.distance || a.index - b.index)
    .slice(0, count)
    .map(({ candidate }) => candidate);
}

/** Index into `layers` of the first layer `{ from }` trains; throws naming the field and the valid names. */
function fromIndex(layers: readonly tfl.layers.Layer[], from: string, backbone: BackboneName): number {
  const index = layers.findIndex((layer) => layer.name === from);
  if (index !== -1 && layers[index]?.getClassName() !== 'InputLayer') return index;
  const names = layers.filter((layer) => layer.getClassName() !== 'InputLayer').map((layer) => layer.name);
  const range = names.length > 0 ? ` (its layers run from '${names[0]}' to the feature layer '${names.at(-1)}')` : '';
  throw new PipelineSpecError(
    `Build model failed: model.trainable.from names '${from}', which is not a layer of the ${backbone} feature extractor${range}; ` +
      `nearest names: ${nearestNames(from, names).join(', ')}`,
  );
}

/** How many of the layers holding weights train, counted from the end. */
function trainedWeightedCount(layers: readonly tfl.layers.Layer[], trainable: Trainable, backbone: BackboneName): number {
  const weighted = layers.filter((layer) => layer.weights.length > 0);
  if (trainable === true) return weighted.length;
  if (trainable === false) return 0;
  if ('lastN' in trainable) return Math.min(trainable.lastN, weighted.length);
  const first = fromIndex(layers, trainable.from, backbone);
  return layers.slice(first).filter((layer) => layer.weights.length > 0).length;
}

/**
 * Sets `trainable` on the backbone's layers: none, all, the last N that hold weights, or every
 * layer from a named one on. Layers without weights keep `trainable: false` (nothing to train).
 */
export function applyTrainable(backbone: tfl.LayersModel, trainable: Trainable, backboneName: BackboneName): void {
  const count = trainedWeightedCount(backbone.layers, trainable, backboneName);
  const weighted = backbone.layers.filter((layer) => layer.weights.length > 0);
  for (const layer of backbone.layers) layer.trainable = false;
  for (const layer of weighted.slice(weighted.length - count)) layer.trainable = true;
}
