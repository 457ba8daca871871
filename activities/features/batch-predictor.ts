import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { EngineCapabilityError } from '../../common/errors.ts';
import type { FeatureEngineName, FeatureEnginePreference } from '../../common/model-spec.ts';
import { selectFeatureEngine, startOnFirstUse, type SkippedFeatureEngine } from './feature-engine.ts';
import { poolingKindOf } from './pooling.ts';

/**
 * Class probabilities of image batches for evaluation: a classifier a train step saved runs its
 * backbone (plus the head's pooling layers) through the feature engine `auto` picks, ONNX Runtime
 * when it converts, and the rest of its head in tfjs; any other model, or a fallback, runs whole
 * in tfjs, as before.
 */
export interface BatchPredictor {
  /** What ran the backbone. */
  engine: FeatureEngineName;
  device: string;
  skipped: SkippedFeatureEngine[];
  /** Probabilities of a batch of NHWC model inputs; the caller disposes the result. */
  predict(x: tf.Tensor): Promise<tf.Tensor>;
  close(): Promise<void>;
}

function wholeModel(model: tfl.LayersModel, skipped: SkippedFeatureEngine[]): BatchPredictor {
  return {
    engine: 'tfjs',
    device: `tfjs ${tf.getBackend()}`,
    skipped,
    predict: async (x) =>
      tf.tidy(() => {
        const y = model.predict(x);
        if (!(y instanceof tf.Tensor)) throw new Error('Predict failed: the model has several outputs');
        return y;
      }),
    close: async () => {},
  };
}

/** The backbone and head of a classifier saved by a train step (`assembleModel`: the head is one Sequential layer named 'head'). */
function splitClassifier(model: tfl.LayersModel): { backbone: tfl.LayersModel; head: tfl.Sequential } | undefined {
  const head = model.layers.find((layer) => layer.name === 'head');
  if (!(head instanceof tfl.Sequential)) return undefined;
  const node = head.inboundNodes.find((candidate) => candidate.inboundLayers.length > 0 && candidate.inboundLayers.every((layer) => model.layers.includes(layer)));
  const features = node?.inputTensors[0];
  if (!features) return undefined;
  return { backbone: tfl.model({ inputs: model.inputs, outputs: features, name: `${model.name}_backbone` }), head };
}

function applyLayer(layer: tfl.layers.Layer, x: tf.Tensor): tf.Tensor {
  const out = layer.apply(x, { training: false });
  if (!(out instanceof tf.Tensor)) throw new Error(`Layer ${layer.name} did not return one tensor`);
  return out;
}

/** A predictor for `model`: its backbone through the feature engine `preference` selects, or the whole model in tfjs. */
export async function createBatchPredictor(model: tfl.LayersModel, preference: FeatureEnginePreference): Promise<BatchPredictor> {
  if (preference === 'tfjs') return wholeModel(model, [{ engine: 'onnxruntime', reason: 'featureEngine: tfjs' }]);
  const split = splitClassifier(model);
  if (!split) {
    const reason = "the model has no 'head' layer (not a classifier saved by a train step) to split its backbone at";
    if (preference === 'onnxruntime') throw new EngineCapabilityError(`Select feature engine failed: featureEngine is onnxruntime but ${reason}`);
    return wholeModel(model, [{ engine: 'onnxruntime', reason }]);
  }
  const { backbone, head } = split;
  // The head's leading weightless layers run with the backbone, as in training (training/model-passes.ts).
  const poolingCount = head.layers.findIndex((layer) => !['Flatten', 'GlobalAveragePooling2D'].includes(layer.getClassName()));
  const pooling = head.layers.slice(0, poolingCount === -1 ? head.layers.length : poolingCount);
  const poolingKinds = pooling.map(poolingKindOf);
  const rest = head.layers.slice(pooling.length);
  const engine = await selectFeatureEngine({
    preference,
    backbone,
    passes: { poolingKinds, folded: false, frozenFeatures: (x) => pooling.reduce((h, layer) => applyLayer(layer, h), applyLayer(backbone, x)) },
    trainingEngine: tf.getBackend(),
    workers: 1,
  });
  if (engine.engine === 'tfjs') {
    await engine.release();
    return wholeModel(model, engine.skipped);
  }
  const extractor = startOnFirstUse(engine);
  return {
    engine: engine.engine,
    device: engine.device,
    skipped: engine.skipped,
    async predict(x) {
      const features = await extractor.extract(x);
      const y = tf.tidy(() => rest.reduce((h, layer) => applyLayer(layer, h), features));
      if (y !== features) features.dispose();
      return y;
    },
    close: () => extractor.close(),
  };
}
