import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { PipelineSpecError } from '../../common/errors.ts';
import type { Checkpoint, CheckpointState } from './checkpoint-store.ts';

/**
 * Turns a training state plus the weights a resume needs and the optimizer's slots into a
 * checkpoint's bytes, and back. Weights are matched by position, not name: auto-generated layer
 * names differ between two builds of the same model.
 */

/** Encodes the state, the weights a resume needs and the optimizer's slots. */
export async function captureCheckpoint(state: CheckpointState, weights: tfl.LayerVariable[], optimizer: tf.Optimizer): Promise<Checkpoint> {
  const encodedWeights = await tf.io.encodeWeights(weights.map((w) => ({ name: w.name, tensor: w.read() })));
  const slots = await optimizer.getWeights();
  try {
    const encodedSlots = await tf.io.encodeWeights(slots);
    return {
      state: {
        ...state,
        weightSpecs: encodedWeights.specs.map(({ name, shape, dtype }) => ({ name, shape, dtype })),
        optimizerSpecs: encodedSlots.specs.map(({ name, shape, dtype }) => ({ name, shape, dtype })),
      },
      weights: new Uint8Array(tf.io.CompositeArrayBuffer.join(encodedWeights.data)),
      optimizer: new Uint8Array(tf.io.CompositeArrayBuffer.join(encodedSlots.data)),
    };
  } finally {
    // getWeights hands out the optimizer's own variables plus a fresh iteration count.
    tf.dispose(slots.map((slot) => slot.tensor).filter((tensor) => !(tensor instanceof tf.Variable)));
  }
}

/** A copy that owns exactly these bytes: decodeWeights reads the whole ArrayBuffer behind a view. */
function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/** Writes checkpointed weights (by position) and optimizer slots back. */
export async function restoreCheckpoint(checkpoint: Checkpoint, weights: tfl.LayerVariable[], optimizer: tf.Optimizer): Promise<void> {
  const { state } = checkpoint;
  if (state.weightSpecs.length !== weights.length) {
    throw new PipelineSpecError(`Resume training failed: checkpoint of epoch ${state.epoch} holds ${state.weightSpecs.length} weights, the model has ${weights.length}`);
  }
  const values = tf.io.decodeWeights(arrayBufferOf(checkpoint.weights), state.weightSpecs);
  const slots = tf.io.decodeWeights(arrayBufferOf(checkpoint.optimizer), state.optimizerSpecs);
  try {
    for (const [i, spec] of state.weightSpecs.entries()) {
      const weight = weights[i];
      const value = values[spec.name];
      if (!weight || !value || value.shape.join(',') !== weight.shape.join(',')) {
        throw new PipelineSpecError(`Resume training failed: checkpoint weight ${spec.name} does not fit ${weight?.name ?? 'the model'}`);
      }
      weight.write(value);
    }
    await optimizer.setWeights(state.optimizerSpecs.map(({ name }) => {
      const tensor = slots[name];
      if (!tensor) throw new PipelineSpecError(`Resume training failed: checkpoint lacks optimizer slot ${name}`);
      return { name, tensor };
    }));
  } finally {
    tf.dispose([...Object.values(values), ...Object.values(slots)]);
  }
}
