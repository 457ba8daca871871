import * as tf from '@tensorflow/tfjs-core';

/**
 * RMSprop (without momentum) and Adam with exactly the arithmetic of tfjs' own optimizers, so
 * weights stay bit-identical to them on CPU, but without their per-step waste: tfjs turns every
 * hyperparameter into a new scalar tensor for each variable at each step (on webgpu, a GPU buffer
 * written from the CPU each time), and its RMSprop computes the mean square twice and keeps a
 * momentum slot it multiplies by 0. Measured on an H100, one step of the notebook's 2.65 M-
 * parameter head: tfjs RMSprop 56 ms, Adam 60 ms; these, 13.5 ms.
 *
 * Checkpoint slots keep tfjs' names and order (iterations, then `<variable>/rms`, or `/m` then
 * `/v`), so checkpoints written with tfjs' optimizers still resume.
 */

/** A named tensor, as tfjs optimizers take and give them (tfjs-core does not export the type). */
type NamedTensor = { name: string; tensor: tf.Tensor };
type Gradients = tf.NamedTensorMap | NamedTensor[];

/**
 * Learning-rate multipliers by variable name (absent: 1), e.g. a smaller rate for the layers of a
 * fine-tuned backbone than for the head. Variables without one keep tfjs' exact arithmetic.
 */
export type LearningRateScales = ReadonlyMap<string, number>;

/** One optimizer state variable of one model variable, with its checkpoint name. */
interface Slot {
  name: string;
  variable: tf.Variable;
}

function entriesOf(gradients: Gradients): Array<readonly [string, tf.Tensor]> {
  return Array.isArray(gradients) ? gradients.map(({ name, tensor }) => [name, tensor] as const) : Object.entries(gradients);
}

function variableNamed(name: string): tf.Variable {
  const variable = tf.engine().registeredVariables[name];
  if (variable === undefined) throw new Error(`Optimizer step failed: no variable named ${name}`);
  return variable;
}

/** The `index`-th slot of a kind, created as zeros shaped like `value` on first use. */
function slotAt(slots: Slot[], index: number, name: string, value: tf.Variable): tf.Variable {
  slots[index] ??= { name, variable: tf.tidy(() => tf.variable(tf.zerosLike(value), false)) };
  return slots[index].variable;
}

function restoredSlots(weights: NamedTensor[], suffix: string): Slot[] {
  return weights.filter(({ name }) => name.endsWith(suffix)).map(({ name, tensor }) => ({ name, variable: tf.variable(tensor, false) }));
}

/** The per-variable learning-rate scalars of `scales` (`base` × scale), made once; `base` for the others. */
class ScaledRates {
  readonly #byName = new Map<string, tf.Scalar>();

  constructor(
    private readonly base: tf.Scalar,
    baseValue: number,
    scales: LearningRateScales,
  ) {
    for (const [name, scale] of scales) if (scale !== 1) this.#byName.set(name, tf.keep(tf.scalar(baseValue * scale)));
  }

  of(name: string): tf.Scalar {
    return this.#byName.get(name) ?? this.base;
  }

  dispose(): void {
    tf.dispose([...this.#byName.values()]);
  }
}

/** Scalars made once and kept, instead of one upload per use. */
function constants<K extends string>(values: Record<K, number>): Record<K, tf.Scalar> {
  return tf.tidy(() => Object.fromEntries(Object.entries<number>(values).map(([key, value]) => [key, tf.keep(tf.scalar(value))]))) as Record<K, tf.Scalar>;
}

/** RMSprop without momentum (Keras' default; the notebook's optimizer). */
export class LeanRmsprop extends tf.Optimizer {
  /** @nocollapse */
  static get className(): string {
    return 'LeanRMSProp';
  }

  #meanSquares: Slot[] = [];
  readonly #c: Record<'decay' | 'keep' | 'learningRate' | 'epsilon', tf.Scalar>;
  readonly #rates: ScaledRates;

  constructor(
    readonly learningRate: number,
    readonly decay = 0.9,
    readonly epsilon = 1e-7,
    learningRateScales: LearningRateScales = new Map(),
  ) {
    super();
    // `1 - decay` in JavaScript, then float32, as tfjs computes it.
    this.#c = constants({ decay, keep: 1 - decay, learningRate, epsilon });
    this.#rates = new ScaledRates(this.#c.learningRate, learningRate, learningRateScales);
  }

  applyGradients(gradients: Gradients): void {
    const c = this.#c;
    entriesOf(gradients).forEach(([name, gradient], i) => {
      const value = variableNamed(name);
      const slot = slotAt(this.#meanSquares, i, `${name}/rms`, value);
      tf.tidy(() => {
        const meanSquare = tf.add(tf.mul(slot, c.decay), tf.mul(tf.square(gradient), c.keep));
        slot.assign(meanSquare);
        value.assign(tf.sub(value, tf.div(tf.mul(gradient, this.#rates.of(name)), tf.sqrt(tf.add(meanSquare, c.epsilon)))));
      });
    });
    this.incrementIterations();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    return [await this.saveIterations(), ...this.#meanSquares.map(({ name, variable }) => ({ name, tensor: variable }))];
  }

  /** Takes the `/rms` slots; tfjs' `/momentum` slots are all zeros without momentum. */
  override async setWeights(weights: NamedTensor[]): Promise<void> {
    const slots = await this.extractIterations(weights);
    tf.dispose(this.#meanSquares.map((slot) => slot.variable));
    this.#meanSquares = restoredSlots(slots, '/rms');
  }

  override dispose(): void {
    super.dispose();
    tf.dispose([...this.#meanSquares.map((slot) => slot.variable), ...Object.values<tf.Scalar>(this.#c)]);
    this.#rates.dispose();
    this.#meanSquares = [];
  }

  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, decay: this.decay, epsilon: this.epsilon, momentum: 0, centered: false };
  }
}

/**
 * Adam. Unlike tfjs', a resumed run is bit-identical to an uninterrupted one: tfjs rebuilds
 * β₁ᵗ and β₂ᵗ with `pow`, while a running optimizer multiplies them step by step; this one
 * repeats the float32 multiplications.
 */
export class LeanAdam extends tf.Optimizer {
  /** @nocollapse */
  static get className(): string {
    return 'LeanAdam';
  }

  #firstMoments: Slot[] = [];
  #secondMoments: Slot[] = [];
  readonly #c: Record<'one' | 'beta1' | 'keep1' | 'beta2' | 'keep2' | 'epsilon' | 'negativeLearningRate', tf.Scalar>;
  /** β₁ᵗ and β₂ᵗ for the coming step t (1-based). */
  readonly #powers: readonly [tf.Variable, tf.Variable];
  readonly #negativeRates: ScaledRates;

  constructor(
    readonly learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-7,
    learningRateScales: LearningRateScales = new Map(),
  ) {
    super();
    this.#c = constants({ one: 1, beta1, keep1: 1 - beta1, beta2, keep2: 1 - beta2, epsilon, negativeLearningRate: -learningRate });
    this.#powers = tf.tidy(() => [tf.variable(tf.scalar(beta1), false), tf.variable(tf.scalar(beta2), false)] as const);
    this.#negativeRates = new ScaledRates(this.#c.negativeLearningRate, -learningRate, learningRateScales);
  }

  applyGradients(gradients: Gradients): void {
    const c = this.#c;
    const [power1, power2] = this.#powers;
    tf.tidy(() => {
      const correction1 = tf.sub(c.one, power1);
      const correction2 = tf.sub(c.one, power2);
      entriesOf(gradients).forEach(([name, gradient], i) => {
        const value = variableNamed(name);
        const first = slotAt(this.#firstMoments, i, `${name}/m`, value);
        const second = slotAt(this.#secondMoments, i, `${name}/v`, value);
        const newFirst = tf.add(tf.mul(first, c.beta1), tf.mul(gradient, c.keep1));
        const newSecond = tf.add(tf.mul(second, c.beta2), tf.mul(tf.square(gradient), c.keep2));
        first.assign(newFirst);
        second.assign(newSecond);
        const step = tf.div(tf.div(newFirst, correction1), tf.add(tf.sqrt(tf.div(newSecond, correction2)), c.epsilon));
        value.assign(tf.add(tf.mul(step, this.#negativeRates.of(name)), value));
      });
      power1.assign(tf.mul(power1, c.beta1));
      power2.assign(tf.mul(power2, c.beta2));
    });
    this.incrementIterations();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const slots = [...this.#firstMoments, ...this.#secondMoments];
    return [await this.saveIterations(), ...slots.map(({ name, variable }) => ({ name, tensor: variable }))];
  }

  override async setWeights(weights: NamedTensor[]): Promise<void> {
    const slots = await this.extractIterations(weights);
    tf.dispose([...this.#firstMoments, ...this.#secondMoments].map((slot) => slot.variable));
    this.#firstMoments = restoredSlots(slots, '/m');
    this.#secondMoments = restoredSlots(slots, '/v');
    const [power1, power2] = this.#powers;
    power1.assign(tf.scalar(float32Power(this.beta1, this.iterations + 1)));
    power2.assign(tf.scalar(float32Power(this.beta2, this.iterations + 1)));
  }

  override dispose(): void {
    super.dispose();
    tf.dispose([...[...this.#firstMoments, ...this.#secondMoments].map((slot) => slot.variable), ...this.#powers, ...Object.values<tf.Scalar>(this.#c)]);
    this.#negativeRates.dispose();
    this.#firstMoments = [];
    this.#secondMoments = [];
  }

  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }
}

/**
 * base^n as n−1 float32 multiplications, as a running optimizer computes it (a product of two
 * float32 values is exact in a double, so one `fround` per step rounds exactly as float32 does).
 */
function float32Power(base: number, n: number): number {
  const factor = Math.fround(base);
  let power = factor;
  for (let i = 1; i < n; i++) power = Math.fround(power * factor);
  return power;
}
