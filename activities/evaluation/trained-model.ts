import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { EvaluationError } from '../../common/errors.ts';
import { PREPROCESSING_MODES, type Preprocessing } from '../../common/model-spec.ts';
import { selectEngine } from '../engine/engine.ts';
import type { ObjectStore } from '../object-store.ts';
import { preprocessingOfMetadata } from '../training/input-preprocessing.ts';
import { fetchLayersModelFiles, loadLayersModel } from '../model-io/layers-model-io.ts';

/**
 * A trained model as the evaluate step sees it: the layers model, its class names, and its
 * input shape. Class names come from the step input (usually the train step's `classes`
 * output) or from `userDefinedMetadata.classes` in model.json, where TF.js keeps user metadata.
 */
export interface TrainedModel {
  model: tfl.LayersModel;
  classes: string[];
  /** [height, width, channels] of one input image. */
  inputShape: [number, number, number];
  /** 1 for a single sigmoid unit (P(class 1)), else one unit per class. */
  outputUnits: number;
  /** How training preprocessed pixels (model.json user metadata, see `recordedPreprocessing`). */
  preprocessing: Preprocessing;
}

const ModelMetadataSchema = z.object({
  userDefinedMetadata: z.object({ classes: z.array(z.string().min(1)).optional() }).loose().optional(),
});

/**
 * The preprocessing a model was trained with, from its model.json (`preprocessingOfMetadata`);
 * `unit` (x/255, what evaluate always fed before it was recorded) when nothing is recorded.
 * An unknown value is an error naming the file.
 */
export function recordedPreprocessing(modelJson: unknown, jsonKey: string): Preprocessing {
  const metadata = typeof modelJson === 'object' && modelJson !== null ? Reflect.get(modelJson, 'userDefinedMetadata') : undefined;
  const preprocessing = preprocessingOfMetadata(metadata);
  if (preprocessing === 'unrecorded') return 'unit';
  if (preprocessing === 'invalid') {
    throw new EvaluationError(
      `Load model failed: ${jsonKey} userDefinedMetadata.preprocessing must be one of ${PREPROCESSING_MODES.join(', ')} (older models: inputScaling unit or symmetric)`,
    );
  }
  return preprocessing;
}

/** `runs/…/model` or `runs/…/model/model.json` → key of model.json. */
export function modelJsonKey(model: string): string {
  const key = model.replace(/^s3:\/\//, '').replace(/\/$/, '');
  return key.endsWith('.json') ? key : `${key}/model.json`;
}

/**
 * Makes sure a tfjs backend is active. A worker that trained already has one (one backend per
 * process: switching it under a running training would break that training), so only a fresh
 * process selects the best engine available.
 */
export async function ensureInferenceBackend(): Promise<string> {
  if (!tf.engine().backendName) await selectEngine('auto');
  return tf.getBackend();
}

/** Loads the model at `model` (a prefix or model.json key) and checks its shape against its classes. */
export async function loadTrainedModel(store: ObjectStore, model: string, declaredClasses: readonly string[] | undefined): Promise<TrainedModel> {
  const jsonKey = modelJsonKey(model);
  const modelJson = await store.getJson(jsonKey);
  const metadata = ModelMetadataSchema.safeParse(modelJson);
  // Scoring must feed pixels exactly as training did, or every probability is off.
  const preprocessing = recordedPreprocessing(modelJson, jsonKey);
  const classes = declaredClasses ?? (metadata.success ? metadata.data.userDefinedMetadata?.classes : undefined);
  if (!classes) {
    throw new EvaluationError(
      `Load model failed: ${jsonKey} does not say which classes it predicts; pass evaluate's \`classes\` (e.g. \${{ steps.train.outputs.classes }}) or write userDefinedMetadata.classes in model.json`,
    );
  }
  const layersModel = await loadLayersModel(await fetchLayersModelFiles(`s3://${store.bucket}/${jsonKey}`, store));
  const [, height, width, channels] = layersModel.inputs[0]?.shape ?? [];
  const outputUnits = layersModel.outputs[0]?.shape.at(-1);
  if (typeof height !== 'number' || typeof width !== 'number' || typeof channels !== 'number' || typeof outputUnits !== 'number') {
    layersModel.dispose();
    throw new EvaluationError(`Load model failed: ${jsonKey} does not take [batch, height, width, channels] images with a fixed size`);
  }
  const expectedUnits = classes.length === 2 ? [1, 2] : [classes.length];
  if (!expectedUnits.includes(outputUnits)) {
    layersModel.dispose();
    throw new EvaluationError(`Load model failed: ${jsonKey} has ${outputUnits} output units but ${classes.length} classes (${classes.join(', ')})`);
  }
  return { model: layersModel, classes: [...classes], inputShape: [height, width, channels], outputUnits, preprocessing };
}

/** Refuses a model whose classes are not the manifest's, in the same order (label indices would mean different things). */
export function checkSameClasses(modelClasses: readonly string[], manifestClasses: readonly string[], manifestKey: string): void {
  const same = modelClasses.length === manifestClasses.length && modelClasses.every((name, i) => name === manifestClasses[i]);
  if (!same) {
    throw new EvaluationError(
      `Evaluate failed: the model predicts classes [${modelClasses.join(', ')}] but ${manifestKey} has classes [${manifestClasses.join(', ')}]`,
    );
  }
}
