import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { WeightsFileError } from '../../common/errors.ts';
import type { KerasLayerWeights, KerasWeightsFile } from './keras-h5.ts';

/**
 * Sets every weight of a model from a Keras weights file, matched by layer name and, within a
 * layer, by position (as Keras' `load_weights_from_hdf5_group_by_name`: `W`/`b` in Keras 1
 * files, `kernel`/`bias` in Keras 2). Stricter than Keras: a weighted layer of the model missing
 * from the file, a weighted layer of the file the model lacks, another weight count or any shape
 * difference fails the whole load before a single weight is set, so nothing is half-loaded.
 */
export function assignKerasWeights(model: tfl.LayersModel, file: KerasWeightsFile, where: string): { layers: number; weights: number } {
  const saved = new Map<string, KerasLayerWeights>();
  for (const layer of file.layers) {
    if (layer.weights.length === 0) continue;
    if (saved.has(layer.layer)) throw new WeightsFileError(`Load weights failed: ${where} holds layer '${layer.layer}' twice`);
    saved.set(layer.layer, layer);
  }
  const weighted = model.layers.filter((layer) => layer.weights.length > 0);
  const missing = weighted.filter((layer) => !saved.has(layer.name)).map((layer) => `${layer.name} (${shapesOf(layer.weights.map((w) => w.shape))})`);
  if (missing.length > 0) {
    throw new WeightsFileError(`Load weights failed: ${where} has no weights for layer${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${model.name}`);
  }
  const modelNames = new Set(weighted.map((layer) => layer.name));
  const extra = [...saved.values()].filter((layer) => !modelNames.has(layer.layer)).map((layer) => `${layer.layer} (${shapesOf(layer.weights.map((w) => w.shape))})`);
  if (extra.length > 0) {
    throw new WeightsFileError(
      `Load weights failed: ${where} has weights for layer${extra.length > 1 ? 's' : ''} ${extra.join(', ')} that ${model.name} does not have ` +
        '(a file with the classifier on top? use the include_top=False "notop" weights)',
    );
  }
  for (const layer of weighted) {
    const values = saved.get(layer.name)?.weights ?? [];
    const expected = layer.weights.map((weight) => weight.shape);
    if (values.length !== expected.length) {
      throw new WeightsFileError(`Load weights failed: ${where} layer '${layer.name}' holds ${values.length} weights (${shapesOf(values.map((v) => v.shape))}), expected ${expected.length} (${shapesOf(expected)})`);
    }
    values.forEach((value, i) => {
      const shape = expected[i] ?? [];
      if (value.shape.join(',') !== shape.join(',')) {
        throw new WeightsFileError(`Load weights failed: ${where} layer '${layer.name}' weight '${value.name}' has shape [${value.shape.join(', ')}], expected [${shape.join(', ')}] (${layer.weights[i]?.originalName ?? ''})`);
      }
    });
  }
  let count = 0;
  for (const layer of weighted) {
    const values = saved.get(layer.name)?.weights ?? [];
    const tensors = values.map((value) => tf.tensor(value.values, value.shape, 'float32'));
    try {
      layer.setWeights(tensors);
    } finally {
      tf.dispose(tensors);
    }
    count += tensors.length;
  }
  return { layers: weighted.length, weights: count };
}

function shapesOf(shapes: readonly (readonly (number | null)[])[]): string {
  return shapes.map((shape) => `[${shape.join(', ')}]`).join(' ');
}
