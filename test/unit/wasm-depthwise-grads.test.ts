import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../../common/prng.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { difference, randomValues, type Grads } from '../helpers/gradient-check.ts';

interface DepthwiseCase {
  batch: number;
  size: [number, number];
  channels: number;
  multiplier: number;
  kernel: [number, number];
  stride: 1 | 2;
  pad: 'same' | 'valid';
}


/** Gradients of sum(depthwiseConv2d(x, w) * r) with respect to x and w, on the active backend. */
async function depthwiseGrads(c: DepthwiseCase, seed: number): Promise<Grads> {
  const random = createRandom('depthwise-grads', seed);
  const [h, w] = c.size;
  const [kh, kw] = c.kernel;
  const x = tf.tensor4d(randomValues(random, c.batch * h * w * c.channels), [c.batch, h, w, c.channels]);
  const filter = tf.tensor4d(randomValues(random, kh * kw * c.channels * c.multiplier), [kh, kw, c.channels, c.multiplier]);
  const outShape = tf.tidy(() => tf.depthwiseConv2d(x, filter, c.stride, c.pad).shape);
  const r = tf.tensor(randomValues(random, outShape.reduce((a, b) => a * b, 1)), outShape);
  const loss = (xs: tf.Tensor, ws: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(xs as tf.Tensor4D, ws as tf.Tensor4D, c.stride, c.pad), r));
  const [dx, dw] = tf.grads(loss)([x, filter]);
  const result = { dx: Float32Array.from(await dx!.data()), dw: Float32Array.from(await dw!.data()) };
  tf.dispose([x, filter, r, dx!, dw!]);
  return result;
}

/**
 * Seeded random shapes covering what MobileNet v1 needs: 3×3 (and 1…5, non-square) kernels,
 * stride 1 and 2, same padding (odd and even sizes, so stride 2 also gets TF's asymmetric
 * bottom/right padding) and valid padding, channel multiplier 1 and 2.
 */
function randomCases(count: number): DepthwiseCase[] {
  const random = createRandom('depthwise-cases');
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const cases: DepthwiseCase[] = [];
  for (let i = 0; i < count; i++) {
    const square = i % 4 !== 3;
    const kernel: [number, number] = i % 3 === 0 ? [3, 3] : square ? [int(1, 5), 0] : [int(1, 5), int(1, 5)];
    if (square) kernel[1] = kernel[0];
    cases.push({
      batch: int(1, 3),
      size: [int(kernel[0], 13), int(kernel[1], 13)],
      channels: int(1, 8),
      multiplier: i % 5 === 4 ? 2 : 1,
      kernel,
      stride: i % 2 === 0 ? 1 : 2,
      pad: Math.floor(i / 2) % 2 === 0 ? 'same' : 'valid',
    });
  }
  return cases;
}

/** Shapes of MobileNet v1 0.75's depthwise layers (batch 2): stride 2 on even sizes pads asymmetrically. */
const MOBILENET_CASES: DepthwiseCase[] = [
  { batch: 2, size: [28, 28], channels: 192, multiplier: 1, kernel: [3, 3], stride: 2, pad: 'same' },
  { batch: 2, size: [14, 14], channels: 384, multiplier: 1, kernel: [3, 3], stride: 1, pad: 'same' },
  { batch: 2, size: [7, 7], channels: 768, multiplier: 1, kernel: [3, 3], stride: 1, pad: 'same' },
];

describe('wasm depthwise-conv gradient kernels', () => {
  before(async () => {
    const wasm = await selectEngine('wasm', { strict: true });
    assert.equal(wasm.capabilities.depthwiseConvGrad, true);
    await selectEngine('cpu', { strict: true });
  });

  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const [index, c] of [...randomCases(24), ...MOBILENET_CASES].entries()) {
    const label =
      `${c.kernel.join('x')} stride ${c.stride} ${c.pad}, batch ${c.batch}, ${c.size.join('x')}x${c.channels}` + (c.multiplier > 1 ? ` multiplier ${c.multiplier}` : '');
    it(`match the cpu backend within 1e-5 relative for ${label}`, async () => {
      await tf.setBackend('cpu');
      const expected = await depthwiseGrads(c, index);
      await tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const actual = await depthwiseGrads(c, index);
      assert.equal(tf.memory().numTensors, before, 'kernels leak no tensors');
      const dx = difference(actual.dx, expected.dx);
      const dw = difference(actual.dw, expected.dw);
      assert.ok(dx.relative < 1e-5, `input gradient off by ${dx.relative} relative (${dx.maxAbs} absolute)`);
      assert.ok(dw.relative < 1e-5, `filter gradient off by ${dw.relative} relative (${dw.maxAbs} absolute)`);
    });
  }
});
