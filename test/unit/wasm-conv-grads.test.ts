import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../../common/prng.ts';
import { selectEngine } from '../../activities/engine/engine.ts';
import { difference, randomValues, type Grads } from '../helpers/gradient-check.ts';

interface ConvCase {
  batch: number;
  size: [number, number];
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: 1 | 2;
  pad: 'same' | 'valid';
}


/** Gradients of sum(conv2d(x, w) * r) with respect to x and w, on the active backend. */
async function convGrads(c: ConvCase, seed: number): Promise<Grads> {
  const random = createRandom('conv-grads', seed);
  const [h, w] = c.size;
  const x = tf.tensor4d(randomValues(random, c.batch * h * w * c.inChannels), [c.batch, h, w, c.inChannels]);
  const filter = tf.tensor4d(randomValues(random, c.kernel * c.kernel * c.inChannels * c.outChannels), [c.kernel, c.kernel, c.inChannels, c.outChannels]);
  const outShape = tf.tidy(() => tf.conv2d(x, filter, c.stride, c.pad).shape);
  const r = tf.tensor(randomValues(random, outShape.reduce((a, b) => a * b, 1)), outShape);
  const [dx, dw] = tf.grads((xs: tf.Tensor, ws: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xs as tf.Tensor4D, ws as tf.Tensor4D, c.stride, c.pad), r)))([x, filter]);
  const result = { dx: Float32Array.from(await dx!.data()), dw: Float32Array.from(await dw!.data()) };
  tf.dispose([x, filter, r, dx!, dw!]);
  return result;
}

function randomCases(count: number): ConvCase[] {
  const random = createRandom('conv-cases');
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const cases: ConvCase[] = [];
  for (let i = 0; i < count; i++) {
    const kernel = (i % 5) + 1;
    cases.push({
      batch: int(2, 3),
      size: [int(kernel + 1, 12), int(kernel + 1, 12)],
      inChannels: int(1, 5),
      outChannels: int(1, 6),
      kernel,
      stride: i % 2 === 0 ? 1 : 2,
      pad: Math.floor(i / 2) % 2 === 0 ? 'same' : 'valid',
    });
  }
  return cases;
}

describe('wasm conv-gradient kernels', () => {
  before(async () => {
    await selectEngine('wasm', { strict: true });
    await selectEngine('cpu', { strict: true });
  });

  for (const [index, c] of randomCases(20).entries()) {
    const label = `${c.kernel}x${c.kernel} stride ${c.stride} ${c.pad}, batch ${c.batch}, ${c.size.join('x')}x${c.inChannels} -> ${c.outChannels}`;
    it(`match the cpu backend within 1e-5 relative for ${label}`, async () => {
      await tf.setBackend('cpu');
      const expected = await convGrads(c, index);
      await tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const actual = await convGrads(c, index);
      assert.equal(tf.memory().numTensors, before, 'kernels leak no tensors');
      const dx = difference(actual.dx, expected.dx);
      const dw = difference(actual.dw, expected.dw);
      assert.ok(dx.relative < 1e-5, `input gradient off by ${dx.relative} relative (${dx.maxAbs} absolute)`);
      assert.ok(dw.relative < 1e-5, `filter gradient off by ${dw.relative} relative (${dw.maxAbs} absolute)`);
    });
  }
});
