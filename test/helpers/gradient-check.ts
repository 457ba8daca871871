import assert from 'node:assert/strict';
import type { Random } from '../../common/prng.ts';

/** The project's wasm gradient kernels are checked against the cpu backend on seeded random inputs. */

/** Input and filter gradients of one convolution, read back from the backend. */
export interface Grads {
  dx: Float32Array;
  dw: Float32Array;
}

/** `count` seeded values in [-1, 1). */
export function randomValues(random: Random, count: number): Float32Array {
  return Float32Array.from({ length: count }, () => random() * 2 - 1);
}

export interface Difference {
  maxAbs: number;
  /** Largest difference over the largest magnitude of the expected values. */
  relative: number;
}

/** How far `actual` is from `expected`: absolute, and relative to the expected values' scale. */
export function difference(actual: Float32Array, expected: Float32Array): Difference {
  assert.equal(actual.length, expected.length);
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs((actual[i] ?? NaN) - (expected[i] ?? NaN)));
    scale = Math.max(scale, Math.abs(expected[i] ?? 0));
  }
  return { maxAbs, relative: maxAbs / Math.max(scale, 1e-12) };
}
