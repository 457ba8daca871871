import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Group } from 'h5wasm/node';
import { createRandom } from '../../common/prng.ts';
import { h5wasm } from '../../activities/weights/h5.ts';

/**
 * Keras HDF5 weight files with seeded random values, written with h5wasm in the layouts found in
 * the wild, so the reader is tested against files as Keras writes them without Python:
 *
 * - `keras1`: the official `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` layout: Keras 1
 *   names (`block1_conv1_W_1:0`, `block1_conv1_b_1:0`) directly in each layer's group,
 *   fixed-length NUL-padded strings, an empty float64 `weight_names` for weightless layers, no
 *   `keras_version` or `backend` attribute.
 * - `keras2`: `model.save_weights('x.h5')` of Keras 2: nested names (`block1_conv1/kernel:0` in a
 *   subgroup), variable-length strings, `keras_version` and `backend`.
 * - `split`: Keras 2 names with `layer_names` and `weight_names` split into `name0`, `name1`, …
 *   as Keras does past HDF5's 64 KB object-header limit.
 */
export type KerasH5Layout = 'keras1' | 'keras2' | 'split';

export interface FixtureWeight {
  /** Keras 2 variable name: `kernel` or `bias`. */
  variable: 'kernel' | 'bias';
  shape: number[];
  values: Float32Array;
}

export interface FixtureLayer {
  name: string;
  /** Empty for input and pooling layers. */
  weights: FixtureWeight[];
}

/** Conv layers of a VGG19-shaped stack: [block, convs, filters]. */
const VGG19_BLOCKS: readonly (readonly [number, number])[] = [
  [2, 64],
  [2, 128],
  [4, 256],
  [4, 512],
  [4, 512],
];

/**
 * He-uniform kernels keep the activations' scale through each ReLU convolution; 0.75 per layer
 * brings caffe-preprocessed pixels (about ±100) to features of about 1 after 16 of them, as
 * trained VGG19 weights do, so a dense head on them neither saturates nor starves.
 */
const GAIN = 0.75;

/**
 * VGG19 `include_top=False` layers with seeded random kernels (see GAIN) and small biases. `channelDivisor` narrows every conv (1 = the real
 * sizes, ~80 MB; 16 = ~0.3 MB for reader tests).
 */
export function vgg19NotopLayers(seed: number, channelDivisor = 1): FixtureLayer[] {
  const random = createRandom('keras-h5-fixture', seed, channelDivisor);
  const layers: FixtureLayer[] = [{ name: 'input_1', weights: [] }];
  let inChannels = 3;
  VGG19_BLOCKS.forEach(([convs, filters], blockIndex) => {
    const out = Math.max(1, filters / channelDivisor);
    for (let conv = 1; conv <= convs; conv++) {
      const limit = GAIN * Math.sqrt(6 / (9 * inChannels));
      const kernel = new Float32Array(9 * inChannels * out);
      for (let i = 0; i < kernel.length; i++) kernel[i] = (random() * 2 - 1) * limit;
      const bias = new Float32Array(out);
      for (let i = 0; i < bias.length; i++) bias[i] = (random() * 2 - 1) * 0.01;
      layers.push({
        name: `block${blockIndex + 1}_conv${conv}`,
        weights: [
          { variable: 'kernel', shape: [3, 3, inChannels, out], values: kernel },
          { variable: 'bias', shape: [out], values: bias },
        ],
      });
      inChannels = out;
    }
    layers.push({ name: `block${blockIndex + 1}_pool`, weights: [] });
  });
  return layers;
}

/**
 * Writes `layers` as a Keras weights file in `layout` (overwrites `path`). `wholeModel` puts them
 * in a `model_weights` group, as `model.save('x.h5')` does.
 */
export async function writeKerasH5(path: string, layers: readonly FixtureLayer[], layout: KerasH5Layout, options: { wholeModel?: boolean } = {}): Promise<void> {
  const h5 = await h5wasm();
  const h5File = new h5.File(path, 'w');
  if (options.wholeModel) h5File.create_attribute('model_config', '{"class_name": "Functional"}');
  const file = options.wholeModel ? h5File.create_group('model_weights') : h5File;
  try {
    const names = layers.map((layer) => layer.name);
    if (layout === 'keras1') {
      writeFixedStrings(file, 'layer_names', names);
    } else {
      file.create_attribute('keras_version', '2.2.4');
      file.create_attribute('backend', 'tensorflow');
      if (layout === 'split') writeSplit(file, 'layer_names', names, 3);
      else file.create_attribute('layer_names', names);
    }
    for (const layer of layers) {
      const group = file.create_group(layer.name);
      if (layer.weights.length === 0) {
        // What h5py stores for numpy's empty list: a zero-length float64 array.
        group.create_attribute('weight_names', new Float64Array(0), [0], '<d');
        continue;
      }
      const weightNames = layer.weights.map((weight) =>
        layout === 'keras1' ? `${layer.name}_${weight.variable === 'kernel' ? 'W' : 'b'}_1:0` : `${layer.name}/${weight.variable}:0`,
      );
      if (layout === 'keras1') writeFixedStrings(group, 'weight_names', weightNames);
      else if (layout === 'split') writeSplit(group, 'weight_names', weightNames, 2, true);
      else group.create_attribute('weight_names', weightNames);
      // Keras 2 names nest: `block1_conv1/kernel:0` is dataset kernel:0 in subgroup block1_conv1.
      const parent = layout === 'keras1' ? group : group.create_group(layer.name);
      layer.weights.forEach((weight, i) => {
        const name = weightNames[i]?.split('/').at(-1) ?? '';
        parent.create_dataset({ name, data: weight.values, shape: weight.shape, dtype: '<f' });
      });
    }
  } finally {
    h5File.close();
  }
}

/** Fixed-length strings as numpy `S<n>` arrays: NUL-padded to the longest name. */
function writeFixedStrings(group: Group, name: string, items: readonly string[]): void {
  const size = Math.max(...items.map((item) => Buffer.byteLength(item)));
  group.create_attribute(name, [...items], [items.length], `S${size}`);
}

/** `name0`, `name1`, … holding `items` in order, variable-length (or fixed-length) strings. */
function writeSplit(group: Group, name: string, items: readonly string[], chunks: number, fixed = false): void {
  const per = Math.ceil(items.length / chunks);
  for (let chunk = 0; chunk * per < items.length; chunk++) {
    const part = items.slice(chunk * per, (chunk + 1) * per);
    if (fixed) writeFixedStrings(group, `${name}${chunk}`, part);
    else group.create_attribute(`${name}${chunk}`, [...part]);
  }
}

/**
 * Path of a full-size VGG19 notop weights file in the official (Keras 1) layout, seeded; written
 * once into the OS temp folder and reused by later test runs (written under a temp name, then
 * renamed, so a reader never sees half a file).
 */
export async function vgg19NotopFixture(seed = 19): Promise<string> {
  const path = join(tmpdir(), `mlp-vgg19-notop-keras1-seed${seed}-v2.h5`);
  if (existsSync(path)) return path;
  const partial = `${path}.${process.pid}.tmp`;
  try {
    await writeKerasH5(partial, vgg19NotopLayers(seed), 'keras1');
    await rename(partial, path);
  } finally {
    await rm(partial, { force: true });
  }
  return path;
}
