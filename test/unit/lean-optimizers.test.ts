import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectEngine } from '../../activities/engine/engine.ts';
import { LeanAdam, LeanRmsprop } from '../../activities/training/lean-optimizers.ts';
import { createOptimizer } from '../../activities/training/optimizers.ts';
import { createRandom } from '../../common/prng.ts';

/** A tiny regression: two variables, a few steps of one optimizer, returns the final weights. */
function problem(tag: string) {
  const random = createRandom('lean-rmsprop', tag);
  const values = (n: number) => Float32Array.from({ length: n }, () => random() - 0.5);
  const x = tf.tensor2d(values(8 * 5), [8, 5]);
  const target = tf.tensor2d(values(8 * 3), [8, 3]);
  const start = { kernel: values(5 * 3), bias: values(3) };
  return {
    variables: (prefix = tag) => [tf.variable(tf.tensor2d(start.kernel, [5, 3]), true, `${prefix}/kernel`), tf.variable(tf.tensor1d(start.bias), true, `${prefix}/bias`)] as const,
    step(optimizer: tf.Optimizer, [kernel, bias]: readonly [tf.Variable, tf.Variable]) {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, kernel), bias), target))), [kernel, bias]);
        optimizer.applyGradients(grads);
      });
    },
    dispose: () => tf.dispose([x, target]),
  };
}

const bytes = async (variables: readonly tf.Variable[]) => Promise.all(variables.map(async (v) => Buffer.from((await v.data()).buffer)));

const kinds = [
  { name: 'RMSprop', lean: (lr: number) => new LeanRmsprop(lr, 0.9, 1e-7), tfjs: (lr: number) => tf.train.rmsprop(lr, 0.9, 0, 1e-7), slots: ['/rms'] },
  { name: 'Adam', lean: (lr: number) => new LeanAdam(lr, 0.9, 0.999, 1e-7), tfjs: (lr: number) => tf.train.adam(lr, 0.9, 0.999, 1e-7), slots: ['/m', '/v'] },
];

describe('lean optimizers', () => {
  before(async () => {
    await selectEngine('cpu', { strict: true });
  });

  for (const kind of kinds) {
    it(`${kind.name}: bit-identical weights to tfjs' own over 7 steps`, async () => {
      const run = async (make: () => tf.Optimizer) => {
        const p = problem('a');
        const vars = p.variables();
        const optimizer = make();
        for (let i = 0; i < 7; i++) p.step(optimizer, vars);
        const out = await bytes(vars);
        optimizer.dispose();
        tf.dispose([...vars]);
        p.dispose();
        return out;
      };
      const lean = await run(() => kind.lean(0.01));
      assert.deepEqual(lean, await run(() => kind.tfjs(0.01)));
      assert.notDeepEqual(lean, await run(() => kind.lean(0.02)), 'the learning rate matters');
    });

    it(`${kind.name}: resumes from its own checkpoint, and from one tfjs wrote, bit-identical to an uninterrupted run`, async () => {
      const p = problem('b');
      const straight = p.variables('b-uninterrupted');
      const reference = kind.lean(0.01);
      for (let i = 0; i < 6; i++) p.step(reference, straight);

      for (const first of [() => kind.lean(0.01), () => kind.tfjs(0.01)]) {
        const vars = p.variables();
        const before = first();
        for (let i = 0; i < 3; i++) p.step(before, vars);
        const slots = await before.getWeights();
        const resumed = kind.lean(0.01);
        await resumed.setWeights(slots.map(({ name, tensor }) => ({ name, tensor: tf.clone(tensor) })));
        assert.equal(resumed.iterations, 3);
        before.dispose();
        for (let i = 0; i < 3; i++) p.step(resumed, vars);
        assert.deepEqual(await bytes(vars), await bytes(straight));
        const saved = await resumed.getWeights();
        assert.deepEqual(saved.slice(1).map((slot) => slot.name), kind.slots.flatMap((suffix) => [`b/kernel${suffix}`, `b/bias${suffix}`]));
        resumed.dispose();
        tf.dispose([...vars]);
      }
      reference.dispose();
      tf.dispose([...straight]);
      p.dispose();
    });
  }
  for (const name of ['rmsprop', 'adam', 'sgd'] as const) {
    it(`${name}: a learning-rate scale shrinks the step of the variables it names by that factor and leaves the others bit-identical`, async () => {
      const p = problem(`scale-${name}`);
      const plain = p.variables(`plain-${name}`);
      const scaled = p.variables(`scaled-${name}`);
      const start = await Promise.all(plain.map(async (v) => Float32Array.from(await v.data())));
      const plainOptimizer = createOptimizer({ name, learningRate: 0.01 });
      const scaledOptimizer = createOptimizer({ name, learningRate: 0.01 }, new Map([[`scaled-${name}/kernel`, 0.1]]));
      p.step(plainOptimizer, plain);
      p.step(scaledOptimizer, scaled);
      const [plainKernel, plainBias] = await Promise.all(plain.map(async (v) => Float32Array.from(await v.data())));
      const [scaledKernel, scaledBias] = await Promise.all(scaled.map(async (v) => Float32Array.from(await v.data())));
      assert.deepEqual(scaledBias, plainBias);
      for (const [i, before] of (start[0] ?? []).entries()) {
        const plainStep = (plainKernel?.[i] ?? NaN) - before;
        const scaledStep = (scaledKernel?.[i] ?? NaN) - before;
        assert.ok(Math.abs(scaledStep - 0.1 * plainStep) <= 1e-3 * Math.abs(plainStep) + 1e-8, `kernel[${i}]: step ${scaledStep}, expected ${0.1 * plainStep}`);
      }
      tf.dispose([...plain, ...scaled]);
      plainOptimizer.dispose();
      scaledOptimizer.dispose();
      p.dispose();
    });
  }
});
