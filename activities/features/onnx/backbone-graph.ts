import { createHash } from 'node:crypto';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { PoolingKind } from '../pooling.ts';
import { GraphWriter } from './graph-writer.ts';
import { LayerConverter, type GraphValue } from './layer-converters.ts';
import { DataType } from './onnx-proto.ts';
import { UnsupportedLayerError } from './unsupported-layer-error.ts';

export { UnsupportedLayerError } from './unsupported-layer-error.ts';

/** A frozen backbone plus its pooling layers as one ONNX model, ready for `InferenceSession.create`. */
export interface BackboneGraph {
  /** Serialized ONNX ModelProto. */
  model: Uint8Array;
  /** Input: NHWC float32 `[N, H, W, C]`, exactly the tensor `ModelPasses.frozenFeatures(x)` receives. */
  inputName: string;
  /** Output: what `ModelPasses.frozenFeatures(x)` returns (backbone in inference mode, then the pooling layers), in Keras (NHWC) order. */
  outputName: string;
  inputShape: [number | null, number, number, number];
  /** Without the batch dimension. */
  outputShape: number[];
  /**
   * SHA-256 of what the graph computes (its operators and weights, names left out): two loads of
   * one backbone agree, and any change to a weight or to the conversion changes it.
   */
  contentSha256: string;
}

/** True when each layer's only input is the previous layer's output (as `foldedInference` requires too). */
function chainBreak(layers: tfl.layers.Layer[]): tfl.layers.Layer | undefined {
  return layers.find((layer, i) => {
    if (i === 0) return false;
    const nodes = layer.inboundNodes;
    const inbound = nodes.length === 1 ? nodes[0]?.inboundLayers : undefined;
    return !(inbound?.length === 1 && inbound[0] === layers[i - 1]);
  });
}

/** Shape of one example after the pooling layers, from the backbone's NHWC output shape. */
function pooledShape(features: number[], pooling: readonly PoolingKind[]): number[] {
  return pooling.reduce((shape, kind) => {
    if (shape.length === 1) return shape;
    return kind === 'flatten' ? [shape.reduce((a, b) => a * b, 1)] : [shape[shape.length - 1] ?? 0];
  }, features);
}

/**
 * Builds the ONNX graph of a frozen backbone (a plain chain of Keras layers: VGG19, MobileNet v1)
 * followed by the head's pooling layers, from the weights the model holds now. Batch-norm after a
 * convolution is folded into it, as `foldedInference` does for tfjs. Inside, the graph is NCHW:
 * the NHWC input is transposed once, and features go back to NHWC before a Keras-order flatten
 * or at the output. Throws `UnsupportedLayerError` for anything it cannot convert exactly.
 */
export function buildBackboneGraph(backbone: tfl.LayersModel, pooling: readonly PoolingKind[]): BackboneGraph {
  const [inputTensor] = backbone.inputs;
  const [outputTensor] = backbone.outputs;
  if (!inputTensor || !outputTensor || backbone.inputs.length !== 1 || backbone.outputs.length !== 1) {
    throw new UnsupportedLayerError(backbone.name, 'Model', 'needs exactly one input and one output');
  }
  const [batch = null, height, width, channels] = inputTensor.shape;
  if (inputTensor.shape.length !== 4 || typeof height !== 'number' || typeof width !== 'number' || typeof channels !== 'number') {
    throw new UnsupportedLayerError(backbone.name, 'Model', `input shape [${inputTensor.shape.join(',')}] is not NHWC with a known size`);
  }
  const layers = backbone.layers;
  const broken = chainBreak(layers);
  if (broken) throw new UnsupportedLayerError(broken.name, broken.getClassName(), 'the backbone is not a plain chain of layers (branches or merges)');

  const writer = new GraphWriter();
  const converter = new LayerConverter(writer);
  const inputName = writer.input('images');
  let value: GraphValue = { name: writer.node('Transpose', 'images_to_nchw', [inputName], { perm: [0, 3, 1, 2] }), layout: 'nchw' };
  for (let i = 0; i < layers.length; ) {
    const layer = layers[i];
    if (!layer) break;
    const converted = converter.convert(layer, layers[i + 1], value);
    value = converted.value;
    i += converted.consumed;
  }
  for (const [i, kind] of pooling.entries()) {
    const name = `pooling_${i + 1}_${kind}`;
    value = kind === 'flatten' ? converter.flatten(value, name) : value.layout === 'flat' ? value : converter.globalAveragePool(value, name);
  }
  if (value.layout === 'nchw') value = { name: writer.node('Transpose', 'features_to_nhwc', [value.name], { perm: [0, 2, 3, 1] }), layout: 'nchw' };

  const features = outputTensor.shape.slice(1).map((dim) => dim ?? 0);
  const outputShape = pooledShape(features, pooling);
  const batchDim = batch ?? 'batch';
  const input = { name: inputName, elemType: DataType.FLOAT, shape: [batchDim, height, width, channels] };
  const output = { name: value.name, elemType: DataType.FLOAT, shape: [batchDim, ...outputShape] };
  const model = writer.encode(backbone.name, input, output);
  const contentSha256 = createHash('sha256').update(writer.encodeAnonymous(input, output)).digest('hex');
  return { model, inputName, outputName: value.name, inputShape: [batch, height, width, channels], outputShape, contentSha256 };
}
