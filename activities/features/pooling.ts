import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * The weightless head layers that run with a frozen backbone, after it: every feature engine
 * (the tfjs pool, the ONNX graph) applies them, so cached features are already pooled. The
 * bottom of features/: onnx/ and the rest of the folder both import it, it imports neither.
 */
export type PoolingKind = 'flatten' | 'globalAveragePooling';

/** The pooling kind of a head layer that is a Flatten or a GlobalAveragePooling2D. */
export function poolingKindOf(layer: tfl.layers.Layer): PoolingKind {
  return layer.getClassName() === 'Flatten' ? 'flatten' : 'globalAveragePooling';
}
