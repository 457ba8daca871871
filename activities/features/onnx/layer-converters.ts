import type { Tensor } from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import type { GraphWriter } from './graph-writer.ts';
import { affineScaleShift, batchNormAffine, conv2dWeights, depthwiseWeights, type ChannelAffine } from './keras-weights.ts';
import { onnxPads } from './tf-padding.ts';
import { UnsupportedLayerError } from './unsupported-layer-error.ts';

/**
 * Keras layers as ONNX nodes. Inside the graph, feature maps are NCHW (what ONNX `Conv` and the
 * pooling ops take); a value is either such a map or, after flatten / global pooling, a
 * `[N, features]` matrix already in Keras order.
 */
export interface GraphValue {
  name: string;
  layout: 'nchw' | 'flat';
}

const PairSchema = z.union([z.number().int(), z.tuple([z.number().int(), z.number().int()])]).transform((v): [number, number] => (typeof v === 'number' ? [v, v] : v));
const DataFormatSchema = z.enum(['channelsLast', 'channelsFirst']).optional();
const ConvConfigSchema = z.object({
  kernelSize: PairSchema,
  strides: PairSchema,
  padding: z.string(),
  dataFormat: DataFormatSchema,
  dilationRate: PairSchema.optional(),
  activation: z.string().optional(),
  useBias: z.boolean(),
});
const BatchNormConfigSchema = z.object({ axis: z.number().int(), epsilon: z.number(), center: z.boolean(), scale: z.boolean() });
const PoolConfigSchema = z.object({ poolSize: PairSchema, strides: PairSchema.nullable().optional(), padding: z.string(), dataFormat: DataFormatSchema });
const ActivationConfigSchema = z.object({ activation: z.string() });
const ReluConfigSchema = z.object({ maxValue: z.number().nullable().optional() });
const IntPairSchema = z.tuple([z.number().int(), z.number().int()]);
/** Keras' three spellings of ZeroPadding2D's `padding`, as [[top, bottom], [left, right]]. */
const ZeroPaddingConfigSchema = z.object({
  padding: z
    .union([z.number().int(), IntPairSchema, z.tuple([IntPairSchema, IntPairSchema])])
    .transform((p): [[number, number], [number, number]] => {
      if (typeof p === 'number') return [[p, p], [p, p]];
      const [first, second] = p;
      if (Array.isArray(first) && Array.isArray(second)) return [first, second];
      return [[Number(first), Number(first)], [Number(second), Number(second)]];
    }),
  dataFormat: DataFormatSchema,
});

/** Builds the nodes of one chain of layers, sharing constants such as ReLU6's bounds. */
export class LayerConverter {
  readonly #writer: GraphWriter;
  readonly #clipBounds = new Map<number, [string, string]>();

  constructor(writer: GraphWriter) {
    this.#writer = writer;
  }

  /**
   * Converts `layer` (and the batch-norm right after it when it folds into a conv: `next`);
   * returns the new value and how many layers were consumed.
   */
  convert(layer: tfl.layers.Layer, next: tfl.layers.Layer | undefined, value: GraphValue): { value: GraphValue; consumed: number } {
    const kind = layer.getClassName();
    switch (kind) {
      case 'InputLayer':
      case 'Dropout': // identity in inference mode
        return { value, consumed: 1 };
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const config = parseConfig(layer, ConvConfigSchema);
        const foldable = next?.getClassName() === 'BatchNormalization' && (config.activation ?? 'linear') === 'linear';
        const affine = foldable && next ? this.#batchNorm(next) : undefined;
        const out = this.#conv(layer, kind, spatial(layer, value), affine);
        return { value: out, consumed: affine ? 2 : 1 };
      }
      case 'BatchNormalization': {
        const { scale, shift } = affineScaleShift(this.#batchNorm(layer));
        const x = spatial(layer, value);
        const dims = [scale.length, 1, 1];
        const scaled = this.#writer.node('Mul', `${layer.name}_scale`, [x.name, this.#writer.floats(`${layer.name}/scale`, dims, scale)]);
        return { value: { name: this.#writer.node('Add', layer.name, [scaled, this.#writer.floats(`${layer.name}/shift`, dims, shift)]), layout: 'nchw' }, consumed: 1 };
      }
      case 'Activation':
        return { value: this.#activation(layer, parseConfig(layer, ActivationConfigSchema).activation, value, layer.name), consumed: 1 };
      case 'ReLU': {
        const { maxValue } = parseConfig(layer, ReluConfigSchema);
        const name = maxValue === null || maxValue === undefined ? this.#writer.node('Relu', layer.name, [value.name]) : this.#clip(value.name, maxValue, layer.name);
        return { value: { name, layout: value.layout }, consumed: 1 };
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        return { value: this.#pool(layer, kind, spatial(layer, value)), consumed: 1 };
      case 'ZeroPadding2D':
        return { value: this.#zeroPad(layer, spatial(layer, value)), consumed: 1 };
      case 'Flatten':
        return { value: this.flatten(value, layer.name), consumed: 1 };
      case 'GlobalAveragePooling2D':
        return { value: this.globalAveragePool(spatial(layer, value), layer.name), consumed: 1 };
      default:
        throw new UnsupportedLayerError(layer.name, kind, 'no ONNX conversion for this layer class');
    }
  }

  /** Keras `Flatten` of NHWC features: back to NHWC first, so the features keep Keras' order. */
  flatten(value: GraphValue, name: string): GraphValue {
    if (value.layout === 'flat') return value;
    const nhwc = this.#writer.node('Transpose', `${name}_to_nhwc`, [value.name], { perm: [0, 2, 3, 1] });
    return { name: this.#writer.node('Flatten', name, [nhwc], { axis: 1 }), layout: 'flat' };
  }

  /** Keras `GlobalAveragePooling2D`: `[N, C]`, the channel means. */
  globalAveragePool(value: GraphValue, name: string): GraphValue {
    const pooled = this.#writer.node('GlobalAveragePool', `${name}_pool`, [value.name]);
    return { name: this.#writer.node('Flatten', name, [pooled], { axis: 1 }), layout: 'flat' };
  }

  #batchNorm(layer: tfl.layers.Layer): ChannelAffine {
    const config = parseConfig(layer, BatchNormConfigSchema);
    if (config.axis !== -1 && config.axis !== 3) throw new UnsupportedLayerError(layer.name, layer.getClassName(), `normalizes axis ${config.axis}; only the channel axis (-1) converts`);
    const weights = layer.getWeights().map((t) => floatValues(layer, t));
    const gamma = config.scale ? weights.shift() : undefined;
    const beta = config.center ? weights.shift() : undefined;
    const [movingMean, movingVariance] = weights;
    if (!movingMean || !movingVariance) throw new UnsupportedLayerError(layer.name, layer.getClassName(), 'has no moving mean and variance');
    return batchNormAffine({ gamma, beta, movingMean, movingVariance, epsilon: config.epsilon });
  }

  #conv(layer: tfl.layers.Layer, kind: 'Conv2D' | 'DepthwiseConv2D', x: GraphValue, affine: ChannelAffine | undefined): GraphValue {
    const config = parseConfig(layer, ConvConfigSchema);
    checkChannelsLast(layer, config.dataFormat);
    if (config.dilationRate && (config.dilationRate[0] !== 1 || config.dilationRate[1] !== 1)) {
      throw new UnsupportedLayerError(layer.name, kind, `dilation rate [${config.dilationRate.join(',')}] is not converted`);
    }
    const padding = paddingMode(layer, config.padding);
    const [kernelTensor, biasTensor] = layer.getWeights();
    if (!kernelTensor || kernelTensor.rank !== 4) throw new UnsupportedLayerError(layer.name, kind, 'has no rank-4 kernel');
    const [kh = 0, kw = 0, inC = 0, last = 0] = kernelTensor.shape;
    const kernel = floatValues(layer, kernelTensor);
    const bias = config.useBias && biasTensor ? floatValues(layer, biasTensor) : undefined;
    const weights = kind === 'Conv2D' ? conv2dWeights(kernel, [kh, kw, inC, last], bias, affine) : depthwiseWeights(kernel, [kh, kw, inC, last], bias, affine);
    const w = this.#writer.floats(`${layer.name}/kernel`, weights.dims, weights.weight);
    const b = this.#writer.floats(`${layer.name}/bias`, [weights.dims[0]], weights.bias);
    const conv = this.#writer.node('Conv', layer.name, [x.name, w, b], {
      kernel_shape: [kh, kw],
      strides: config.strides,
      pads: onnxPads(padding, spatialSize(layer), [kh, kw], config.strides),
      dilations: [1, 1],
      group: weights.group,
    });
    return this.#activation(layer, config.activation ?? 'linear', { name: conv, layout: 'nchw' }, `${layer.name}_${config.activation ?? 'linear'}`);
  }

  #pool(layer: tfl.layers.Layer, kind: 'MaxPooling2D' | 'AveragePooling2D', x: GraphValue): GraphValue {
    const config = parseConfig(layer, PoolConfigSchema);
    checkChannelsLast(layer, config.dataFormat);
    const strides = config.strides ?? config.poolSize;
    const pads = onnxPads(paddingMode(layer, config.padding), spatialSize(layer), config.poolSize, strides);
    // TF averages over the window's real pixels only (padding excluded): count_include_pad 0.
    const attributes = { kernel_shape: config.poolSize, strides, pads, ...(kind === 'AveragePooling2D' ? { count_include_pad: 0 } : {}) };
    return { name: this.#writer.node(kind === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', layer.name, [x.name], attributes), layout: 'nchw' };
  }

  #zeroPad(layer: tfl.layers.Layer, x: GraphValue): GraphValue {
    const config = parseConfig(layer, ZeroPaddingConfigSchema);
    checkChannelsLast(layer, config.dataFormat);
    const [[top, bottom], [left, right]] = config.padding;
    const pads = this.#writer.int64s(`${layer.name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
    return { name: this.#writer.node('Pad', layer.name, [x.name, pads]), layout: 'nchw' };
  }

  #activation(layer: tfl.layers.Layer, activation: string, value: GraphValue, name: string): GraphValue {
    switch (activation) {
      case 'linear':
        return value;
      case 'relu':
        return { name: this.#writer.node('Relu', name, [value.name]), layout: value.layout };
      case 'relu6':
        return { name: this.#clip(value.name, 6, name), layout: value.layout };
      case 'sigmoid':
        return { name: this.#writer.node('Sigmoid', name, [value.name]), layout: value.layout };
      case 'tanh':
        return { name: this.#writer.node('Tanh', name, [value.name]), layout: value.layout };
      default:
        throw new UnsupportedLayerError(layer.name, layer.getClassName(), `activation '${activation}' is not converted`);
    }
  }

  /** ReLU with a ceiling as `Clip(x, 0, max)`: since opset 11 the bounds are inputs, not attributes. */
  #clip(input: string, max: number, name: string): string {
    let bounds = this.#clipBounds.get(max);
    if (!bounds) {
      bounds = [this.#writer.floats(`clip_${max}_min`, [], new Float32Array([0])), this.#writer.floats(`clip_${max}_max`, [], new Float32Array([max]))];
      this.#clipBounds.set(max, bounds);
    }
    return this.#writer.node('Clip', name, [input, ...bounds]);
  }
}

function parseConfig<T>(layer: tfl.layers.Layer, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(layer.getConfig());
  if (!parsed.success) throw new UnsupportedLayerError(layer.name, layer.getClassName(), `unexpected config: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** A float32 weight's values (read synchronously: the graph is built once, before any run). */
function floatValues(layer: tfl.layers.Layer, tensor: Tensor): Float32Array {
  const values = tensor.dataSync();
  if (!(values instanceof Float32Array)) throw new UnsupportedLayerError(layer.name, layer.getClassName(), `has ${tensor.dtype} weights; only float32 converts`);
  return values;
}

function checkChannelsLast(layer: tfl.layers.Layer, dataFormat: string | undefined): void {
  if (dataFormat === 'channelsFirst') throw new UnsupportedLayerError(layer.name, layer.getClassName(), 'channels-first data format is not converted');
}

function paddingMode(layer: tfl.layers.Layer, padding: string): 'same' | 'valid' {
  if (padding === 'same' || padding === 'valid') return padding;
  throw new UnsupportedLayerError(layer.name, layer.getClassName(), `padding '${padding}' is not converted`);
}

/** The layer's input height and width, which TF's "same" padding depends on. */
function spatialSize(layer: tfl.layers.Layer): [number, number] {
  const input = layer.input;
  const [, h, w] = Array.isArray(input) ? [] : input.shape;
  if (typeof h !== 'number' || typeof w !== 'number') throw new UnsupportedLayerError(layer.name, layer.getClassName(), 'input height and width must be known');
  return [h, w];
}

function spatial(layer: tfl.layers.Layer, value: GraphValue): GraphValue {
  if (value.layout !== 'nchw') throw new UnsupportedLayerError(layer.name, layer.getClassName(), 'needs a feature map, but its input is already flattened');
  return value;
}
