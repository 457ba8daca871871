import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { EngineCapabilityError, PipelineSpecError } from '../../common/errors.ts';
import type { BackboneSpec, HeadSpec, ModelSpec } from '../../common/model-spec.ts';
import type { EngineCapabilities } from '../engine/engine.ts';
import type { ObjectStore } from '../object-store.ts';
import { fetchLayersModelFiles, loadLayersModel, type LayersModelFiles } from './layers-model-io.ts';
import { applySymbolic, buildVgg19 } from './vgg19.ts';

/** Feature layer each backbone uses when the spec names none. */
export const DEFAULT_FEATURE_LAYERS: Record<BackboneSpec['name'], string> = {
  vgg19: 'block5_pool',
  mobilenet_v1: 'conv_pw_13_relu',
};

/** A classifier split where training needs it: backbone (image → features) and head (features → probabilities). */
export interface BuiltModel {
  /** Image → class probabilities: what is saved and published. Shares its layers with `backbone` and `head`. */
  model: tfl.LayersModel;
  backbone: tfl.LayersModel;
  head: tfl.Sequential;
  /** Shape of one example's backbone features, e.g. [7, 7, 768]. */
  featureShape: number[];
  /** True when no backbone weight trains: features can be computed once and cached. */
  frozenBackbone: boolean;
}

export interface BuildModelOptions {
  /** Seed of the weight initializers. */
  seed: number;
  /** Resolves `s3://` weight locations. */
  store?: ObjectStore;
  /** When given, the model must be trainable on this engine (else `EngineCapabilityError`). */
  capabilities?: EngineCapabilities;
  /** Engine name for error messages. */
  engineName?: string;
}

function nonNull(shape: readonly (number | null)[], what: string): number[] {
  return shape.map((dim) => {
    if (dim === null) throw new PipelineSpecError(`Build model failed: ${what} has an unknown dimension ([${shape.join(',')}])`);
    return dim;
  });
}

/** Copies weights saved under Keras names (`block1_conv1/kernel`) into a model built here. */
function assignWeightsByName(model: tfl.LayersModel, files: LayersModelFiles, where: string): void {
  const named = tf.io.decodeWeights(files.weightData, files.weightSpecs);
  try {
    for (const layer of model.layers) {
      if (layer.weights.length === 0) continue;
      const values = layer.weights.map((weight) => {
        const suffix = weight.originalName.slice(weight.originalName.lastIndexOf('/') + 1);
        const value = named[`${layer.name}/${suffix}`];
        if (!value) throw new PipelineSpecError(`Load weights failed: ${where} has no weight ${layer.name}/${suffix}`);
        if (value.shape.join(',') !== weight.shape.join(',')) {
          throw new PipelineSpecError(`Load weights failed: ${where} has ${layer.name}/${suffix} of shape [${value.shape.join(',')}], expected [${weight.shape.join(',')}]`);
        }
        return value;
      });
      layer.setWeights(values);
    }
  } finally {
    tf.dispose(Object.values(named));
  }
}

async function loadBackbone(spec: BackboneSpec, options: BuildModelOptions): Promise<tfl.LayersModel> {
  const pretrained = spec.weights !== 'none';
  if (spec.name === 'vgg19') {
    const model = buildVgg19(spec.inputSize, options.seed);
    if (pretrained) assignWeightsByName(model, await fetchLayersModelFiles(spec.weights, options.store), spec.weights);
    return model;
  }
  if (!pretrained) throw new PipelineSpecError('Build model failed: mobilenet_v1 needs pretrained weights (backbone.weights: a model.json location)');
  const model = await loadLayersModel(await fetchLayersModelFiles(spec.weights, options.store));
  const [, h, w] = model.inputs[0]?.shape ?? [];
  if (h !== spec.inputSize || w !== spec.inputSize) {
    model.dispose();
    throw new PipelineSpecError(`Build model failed: ${spec.weights} takes ${h}x${w} images, but backbone.inputSize is ${spec.inputSize}`);
  }
  return model;
}

/** The backbone cut at its feature layer, with `trainable` applied to its layers. */
function featureExtractor(full: tfl.LayersModel, spec: BackboneSpec): tfl.LayersModel {
  const layerName = spec.featureLayer ?? DEFAULT_FEATURE_LAYERS[spec.name];
  let output: tfl.SymbolicTensor | tfl.SymbolicTensor[];
  try {
    output = full.getLayer(layerName).output;
  } catch {
    throw new PipelineSpecError(`Build model failed: ${spec.name} has no layer '${layerName}' (backbone.featureLayer)`);
  }
  if (Array.isArray(output)) throw new PipelineSpecError(`Build model failed: feature layer '${layerName}' has several outputs`);
  const backbone = tfl.model({ inputs: full.inputs, outputs: output, name: `${spec.name}_features` });
  const weighted = backbone.layers.filter((layer) => layer.weights.length > 0);
  const trainableFrom = spec.trainable === true ? 0 : spec.trainable === false ? weighted.length : Math.max(0, weighted.length - spec.trainable);
  for (const layer of backbone.layers) layer.trainable = false;
  for (const layer of weighted.slice(trainableFrom)) layer.trainable = true;
  return backbone;
}

/** Flatten or global-average-pool, dense layers (with dropout), softmax output: the trainable head. */
export function buildHead(spec: HeadSpec, featureShape: number[], seed: number): tfl.Sequential {
  const layers: tfl.layers.Layer[] = [
    spec.pooling === 'flatten'
      ? tfl.layers.flatten({ name: 'head_flatten', inputShape: featureShape })
      : tfl.layers.globalAveragePooling2d({ name: 'head_gap', inputShape: featureShape }),
  ];
  for (const [i, dense] of spec.dense.entries()) {
    layers.push(
      tfl.layers.dense({
        name: `head_dense_${i + 1}`,
        units: dense.units,
        activation: dense.activation,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1000 + i }),
      }),
    );
    if (dense.dropout > 0) layers.push(tfl.layers.dropout({ name: `head_dropout_${i + 1}`, rate: dense.dropout }));
  }
  layers.push(
    tfl.layers.dense({
      name: 'head_output',
      units: spec.classes,
      activation: 'softmax',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 2000 }),
    }),
  );
  return tfl.sequential({ name: 'head', layers });
}

/** Throws `EngineCapabilityError` when a trainable layer needs a gradient the engine lacks. */
export function assertTrainableOn(model: tfl.LayersModel, capabilities: EngineCapabilities, engineName: string, spec: BackboneSpec): void {
  const depthwise = model.layers.find((layer) => layer.trainable && layer.weights.length > 0 && layer.getClassName() === 'DepthwiseConv2D');
  if (depthwise && !capabilities.depthwiseConvGrad) {
    throw new EngineCapabilityError(
      `Build model failed: ${spec.name} with backbone.trainable: ${String(spec.trainable)} trains depthwise convolution '${depthwise.name}', ` +
        `whose gradients engine ${engineName} cannot compute; freeze those layers (trainable: false, or a smaller lastN) or use the webgpu or cpu engine`,
    );
  }
  const conv = model.layers.find((layer) => layer.trainable && layer.weights.length > 0 && layer.getClassName() === 'Conv2D');
  if (conv && !capabilities.convGrad) {
    throw new EngineCapabilityError(`Build model failed: engine ${engineName} cannot compute conv gradients for '${conv.name}'; freeze the backbone`);
  }
}

/** Builds the classifier a spec describes: backbone (loaded or random), feature cut, head. */
export async function buildModel(spec: ModelSpec, options: BuildModelOptions): Promise<BuiltModel> {
  const full = await loadBackbone(spec.backbone, options);
  const backbone = featureExtractor(full, spec.backbone);
  // Layers past the feature layer (e.g. MobileNet's ImageNet classifier) are never used again.
  for (const layer of full.layers) if (!backbone.layers.includes(layer)) layer.dispose();
  if (options.capabilities) {
    try {
      assertTrainableOn(backbone, options.capabilities, options.engineName ?? 'selected', spec.backbone);
    } catch (error) {
      backbone.dispose();
      throw error;
    }
  }
  return assembleModel(backbone, spec.head, options.seed);
}

/** Puts a head on a feature extractor (whose layers' `trainable` flags are already set). */
export function assembleModel(backbone: tfl.LayersModel, headSpec: HeadSpec, seed: number): BuiltModel {
  const output = backbone.outputs[0];
  if (!output || backbone.outputs.length !== 1) throw new PipelineSpecError(`Build model failed: feature extractor ${backbone.name} must have one output`);
  const featureShape = nonNull(output.shape.slice(1), `${backbone.name} feature layer`);
  const head = buildHead(headSpec, featureShape, seed);
  const model = tfl.model({ inputs: backbone.inputs, outputs: applySymbolic(head, output), name: `${backbone.name}_classifier` });
  const frozenBackbone = backbone.layers.every((layer) => !layer.trainable || layer.weights.length === 0);
  return { model, backbone, head, featureShape, frozenBackbone };
}
