import * as tfl from '@tensorflow/tfjs-layers';

/** VGG19 convolution blocks: filters and number of 3×3 convolutions per block. */
const BLOCKS: readonly (readonly [filters: number, convs: number])[] = [
  [64, 2],
  [128, 2],
  [256, 4],
  [512, 4],
  [512, 4],
];

/**
 * The VGG19 convolutional base (Keras `VGG19(include_top=False)`), with Keras' layer names
 * (`block1_conv1` … `block5_pool`) so converted Keras weights load by name. Weights are random
 * (Glorot uniform, seeded).
 */
export function buildVgg19(inputSize: number, seed: number): tfl.LayersModel {
  const input = tfl.input({ shape: [inputSize, inputSize, 3], name: 'input_1' });
  let x: tfl.SymbolicTensor = input;
  let layerIndex = 0;
  for (const [blockIndex, [filters, convs]] of BLOCKS.entries()) {
    const block = `block${blockIndex + 1}`;
    for (let i = 1; i <= convs; i++) {
      const conv = tfl.layers.conv2d({
        name: `${block}_conv${i}`,
        filters,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + layerIndex++ }),
      });
      x = applySymbolic(conv, x);
    }
    x = applySymbolic(tfl.layers.maxPooling2d({ name: `${block}_pool`, poolSize: 2, strides: 2 }), x);
  }
  return tfl.model({ inputs: input, outputs: x, name: 'vgg19' });
}

/** `layer.apply` on a symbolic tensor, checked (apply's return type covers concrete tensors too). */
export function applySymbolic(layer: tfl.layers.Layer, x: tfl.SymbolicTensor): tfl.SymbolicTensor {
  const out = layer.apply(x);
  if (!(out instanceof tfl.SymbolicTensor)) throw new Error(`Layer ${layer.name} did not return one symbolic tensor`);
  return out;
}
