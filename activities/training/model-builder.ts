import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { EngineCapabilityError, PipelineSpecError } from '../../common/errors.ts';
import type { BackboneName, HeadLayer, ModelSpec } from '../../common/model-spec.ts';
import { resolveWeightsReference } from '../../common/weights-reference.ts';
import { silentLogger, type DataLogger } from '../data/logger.ts';
import type { EngineCapabilities } from '../engine/engine.ts';
import type { ObjectStore } from '../object-store.ts';
import { loadKerasWeights } from '../weights/load-keras-weights.ts';
import { preprocessingOfMetadata } from './input-preprocessing.ts';
import { fetchLayersModelFiles, loadLayersModel, type LayersModelFiles } from '../model-io/layers-model-io.ts';
import { applyTrainable } from './trainable-layers.ts';
import { applySymbolic, buildVgg19 } from './vgg19.ts';

/** Feature layer each backbone uses when the spec names none. */
export const DEFAULT_FEATURE_LAYERS: Record<BackboneName, string> = {
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
  /** Units of the classifier layer (1 for a single sigmoid unit). */
  outputUnits: number;
}

export interface BuildModelOptions {
  /** Seed of the weight initializers. */
  seed: number;
  /** Resolves `s3://` weight locations and keeps pinned Keras weight files (`weights/<sha256>.h5`). */
  store?: ObjectStore;
  /** Local folder for weight downloads. @default the OS temp folder */
  scratchDir?: string;
  log?: DataLogger;
  signal?: AbortSignal;
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

/** Sets a VGG19 built here from `model.weights`: a Keras .h5 file (or `keras:vgg19`) or a TF.js layers model. */
async function loadVgg19Weights(model: tfl.LayersModel, spec: ModelSpec & { weights: string }, options: BuildModelOptions): Promise<void> {
  const reference = resolveWeightsReference(spec);
  if (reference.format === 'tfjs-layers') {
    assignWeightsByName(model, await fetchLayersModelFiles(reference.location, options.store), reference.location);
    return;
  }
  if (!options.store) throw new PipelineSpecError(`Load weights failed: ${spec.weights} needs an object store (pinned weights are kept there)`);
  await loadKerasWeights(model, reference, {
    store: options.store,
    scratchDir: options.scratchDir ?? tmpdir(),
    log: options.log ?? silentLogger,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

async function loadBackbone(spec: ModelSpec, options: BuildModelOptions): Promise<tfl.LayersModel> {
  if (spec.backbone === 'vgg19') {
    const model = buildVgg19(spec.inputSize, options.seed);
    const { weights } = spec;
    if (weights === undefined) return model;
    try {
      await loadVgg19Weights(model, { ...spec, weights }, options);
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  }
  if (!spec.weights) throw new PipelineSpecError('Build model failed: mobilenet_v1 needs pretrained weights (model.weights: a model.json location)');
  const reference = resolveWeightsReference({ ...spec, weights: spec.weights });
  if (reference.format !== 'tfjs-layers') throw new PipelineSpecError(`Build model failed: mobilenet_v1 needs a TF.js layers model (model.json), not ${spec.weights}`);
  const model = await loadLayersModel(await fetchLayersModelFiles(reference.location, options.store));
  const [, h, w] = model.inputs[0]?.shape ?? [];
  if (h !== spec.inputSize || w !== spec.inputSize) {
    model.dispose();
    throw new PipelineSpecError(`Build model failed: ${spec.weights} takes ${h}x${w} images, but model.inputSize is ${spec.inputSize}`);
  }
  return model;
}

/** The backbone cut at its feature layer, with `trainable` applied to its layers. */
function featureExtractor(full: tfl.LayersModel, spec: ModelSpec): tfl.LayersModel {
  const layerName = spec.featureLayer ?? DEFAULT_FEATURE_LAYERS[spec.backbone];
  let output: tfl.SymbolicTensor | tfl.SymbolicTensor[];
  try {
    output = full.getLayer(layerName).output;
  } catch {
    throw new PipelineSpecError(`Build model failed: ${spec.backbone} has no layer '${layerName}' (model.featureLayer)`);
  }
  if (Array.isArray(output)) throw new PipelineSpecError(`Build model failed: feature layer '${layerName}' has several outputs`);
  const backbone = tfl.model({ inputs: full.inputs, outputs: output, name: `${spec.backbone}_features` });
  applyTrainable(backbone, spec.trainable, spec.backbone);
  return backbone;
}

function headLayer(layer: HeadLayer, index: number, seed: number, inputShape: number[] | undefined): tfl.layers.Layer {
  const name = `head_${index + 1}_${layer.type}`;
  const first = inputShape ? { inputShape } : {};
  switch (layer.type) {
    case 'flatten':
      return tfl.layers.flatten({ name, ...first });
    case 'globalAveragePooling':
      return tfl.layers.globalAveragePooling2d({ name, ...first });
    case 'dropout':
      return tfl.layers.dropout({ name, rate: layer.rate, ...first });
    case 'dense':
      return tfl.layers.dense({
        name,
        units: layer.units,
        activation: layer.activation,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1000 + index }),
        ...first,
      });
  }
}

/** The head layers in order (pooling, dense, dropout, classifier) as one trainable model. */
export function buildHead(layers: readonly HeadLayer[], featureShape: number[], seed: number): tfl.Sequential {
  const last = layers.at(-1);
  if (last?.type !== 'dense') throw new PipelineSpecError('Build model failed: the last head layer must be the dense classifier');
  return tfl.sequential({ name: 'head', layers: layers.map((layer, i) => headLayer(layer, i, seed, i === 0 ? featureShape : undefined)) });
}

/** Throws `EngineCapabilityError` when a trainable layer needs a gradient the engine lacks. */
export function assertTrainableOn(model: tfl.LayersModel, capabilities: EngineCapabilities, engineName: string, spec: ModelSpec): void {
  const depthwise = model.layers.find((layer) => layer.trainable && layer.weights.length > 0 && layer.getClassName() === 'DepthwiseConv2D');
  if (depthwise && !capabilities.depthwiseConvGrad) {
    throw new EngineCapabilityError(
      `Build model failed: ${spec.backbone} with model.trainable: ${JSON.stringify(spec.trainable)} trains depthwise convolution '${depthwise.name}', ` +
        `whose gradients engine ${engineName} cannot compute; freeze those layers (trainable: false, a smaller lastN or a later from) or use an engine that has them (webgpu, wasm, cpu)`,
    );
  }
  const conv = model.layers.find((layer) => layer.trainable && layer.weights.length > 0 && layer.getClassName() === 'Conv2D');
  if (conv && !capabilities.convGrad) {
    throw new EngineCapabilityError(`Build model failed: engine ${engineName} cannot compute conv gradients for '${conv.name}'; freeze the backbone`);
  }
}

/** Builds the classifier a spec describes: backbone (loaded or random), feature cut, head. */
export async function buildModel(spec: ModelSpec, options: BuildModelOptions): Promise<BuiltModel> {
  const full = await loadBackbone(spec, options);
  let backbone: tfl.LayersModel;
  try {
    backbone = featureExtractor(full, spec);
  } catch (error) {
    full.dispose();
    throw error;
  }
  // Layers past the feature layer (e.g. MobileNet's ImageNet classifier) are never used again.
  for (const layer of full.layers) if (!backbone.layers.includes(layer)) layer.dispose();
  if (options.capabilities) {
    try {
      assertTrainableOn(backbone, options.capabilities, options.engineName ?? 'selected', spec);
    } catch (error) {
      backbone.dispose();
      throw error;
    }
  }
  return assembleModel(backbone, spec.head, options.seed);
}

/** Puts a head on a feature extractor (whose layers' `trainable` flags are already set). */
export function assembleModel(backbone: tfl.LayersModel, headSpec: readonly HeadLayer[], seed: number): BuiltModel {
  const output = backbone.outputs[0];
  if (!output || backbone.outputs.length !== 1) throw new PipelineSpecError(`Build model failed: feature extractor ${backbone.name} must have one output`);
  const featureShape = nonNull(output.shape.slice(1), `${backbone.name} feature layer`);
  const head = buildHead(headSpec, featureShape, seed);
  const model = tfl.model({ inputs: backbone.inputs, outputs: applySymbolic(head, output), name: `${backbone.name}_classifier` });
  const frozenBackbone = backbone.layers.every((layer) => !layer.trainable || layer.weights.length === 0);
  const outputUnits = head.outputs[0]?.shape.at(-1);
  if (typeof outputUnits !== 'number') throw new PipelineSpecError('Build model failed: the classifier has no fixed number of units');
  return { model, backbone, head, featureShape, frozenBackbone, outputUnits };
}

/**
 * Continues from a classifier a `train` step saved (warm start of `mode: full`): its topology and
 * weights, split again into backbone and head, with the spec's `trainable` flags.
 */
export async function loadBuiltModel(location: string, spec: ModelSpec, options: Omit<BuildModelOptions, 'seed'>): Promise<BuiltModel> {
  const model = await loadLayersModel(await fetchLayersModelFiles(location, options.store));
  try {
    const head = model.layers.find((layer) => layer.name === 'head');
    // The head's node in the classifier's graph (its first node is its own Sequential input).
    const node = head?.inboundNodes.find(
      (candidate) => candidate.inboundLayers.length > 0 && candidate.inboundLayers.every((layer) => model.layers.includes(layer)),
    );
    const featureTensor = node?.inputTensors[0];
    if (!(head instanceof tfl.Sequential) || !featureTensor) throw new PipelineSpecError(`Warm start failed: ${location} is not a classifier saved by a train step (no 'head' model)`);
    const savedUnits = head.layers.filter((layer) => layer.getClassName() === 'Dense').map((layer) => layer.outputShape.at(-1));
    const specUnits = spec.head.flatMap((layer) => (layer.type === 'dense' ? [layer.units] : []));
    if (savedUnits.join(',') !== specUnits.join(',')) {
      throw new PipelineSpecError(`Warm start failed: ${location} has dense head units [${savedUnits.join(', ')}], the step's model.head has [${specUnits.join(', ')}]`);
    }
    // Weights learned on one input preprocessing are off under another (a model that records none cannot be checked).
    const recorded = preprocessingOfMetadata(model.getUserDefinedMetadata());
    if (recorded !== 'unrecorded' && recorded !== spec.preprocessing) {
      throw new PipelineSpecError(
        `Warm start failed: ${location} was trained with preprocessing ${recorded === 'invalid' ? 'of no known mode' : recorded} but the step's model.preprocessing is ${spec.preprocessing}; set it to match, or retrain the model it starts from`,
      );
    }
    const backbone = tfl.model({ inputs: model.inputs, outputs: featureTensor, name: `${spec.backbone}_features` });
    applyTrainable(backbone, spec.trainable, spec.backbone);
    if (options.capabilities) assertTrainableOn(backbone, options.capabilities, options.engineName ?? 'selected', spec);
    const featureShape = nonNull(featureTensor.shape.slice(1), `${location} feature layer`);
    const outputUnits = specUnits.at(-1) ?? 0;
    const frozenBackbone = backbone.layers.every((layer) => !layer.trainable || layer.weights.length === 0);
    return { model, backbone, head, featureShape, frozenBackbone, outputUnits };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
