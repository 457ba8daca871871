/**
 * Worker-thread side of the parallel feature extractor (see feature-pool.ts): one wasm engine
 * per thread, because Node has no wasm threads and a single wasm backend uses one core.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { selectEngine } from '../engine/engine.ts';
import { foldedInference, type FoldedInference } from '../model-io/folded-inference.ts';
import { loadLayersModel, ModelJsonSchema } from '../model-io/layers-model-io.ts';

const InitSchema = z.object({
  type: z.literal('init'),
  modelJson: ModelJsonSchema,
  weights: z.instanceof(Uint8Array),
  pooling: z.array(z.enum(['flatten', 'globalAveragePooling'])),
});
const RunSchema = z.object({
  type: z.literal('run'),
  id: z.number(),
  data: z.instanceof(Float32Array),
  shape: z.array(z.number().int()),
});
const MessageSchema = z.discriminatedUnion('type', [InitSchema, RunSchema]);

let extractor: { folded: FoldedInference; pooling: z.infer<typeof InitSchema>['pooling'] } | undefined;

function pool(h: tf.Tensor, kind: 'flatten' | 'globalAveragePooling'): tf.Tensor {
  return kind === 'flatten' ? tf.reshape(h, [h.shape[0] ?? -1, -1]) : tf.mean(h, [1, 2]);
}

async function handle(raw: unknown): Promise<void> {
  const message = MessageSchema.parse(raw);
  if (message.type === 'init') {
    await selectEngine('wasm', { strict: true });
    const weights = new Uint8Array(message.weights);
    const model = await loadLayersModel({
      modelJson: message.modelJson,
      weightData: weights.buffer,
      weightSpecs: message.modelJson.weightsManifest.flatMap((group) => group.weights),
    });
    extractor = { folded: foldedInference(model), pooling: message.pooling };
    parentPort?.postMessage({ type: 'ready' });
    return;
  }
  if (!extractor) throw new Error('Feature worker got a batch before its model');
  const { folded, pooling } = extractor;
  const features = tf.tidy(() => pooling.reduce((h, kind) => pool(h, kind), folded.run(tf.tensor(message.data, message.shape))));
  const data = Float32Array.from(await features.data());
  const shape = features.shape;
  features.dispose();
  parentPort?.postMessage({ type: 'result', id: message.id, data, shape }, [data.buffer]);
}

parentPort?.on('message', (raw: unknown) => {
  handle(raw).catch((error: unknown) => {
    parentPort?.postMessage({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  });
});
