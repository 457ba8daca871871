import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { OrtSettings } from './ort-session-options.ts';

/**
 * Frozen-backbone features through ONNX Runtime, on a worker thread that owns the session
 * (ort-worker.ts): `run()` of onnxruntime-node blocks the thread that calls it, so here it
 * never blocks the activity's event loop. Batches go over as transferred Float32Array buffers,
 * NHWC as the tfjs backbone takes them; the session's own intra-op threads use the cores.
 */

/** The part of a built backbone graph (onnx/backbone-graph.ts) a session needs. */
export interface OrtGraph {
  model: Uint8Array;
  inputName: string;
  outputName: string;
}

export interface OrtExtractor {
  readonly settings: OrtSettings;
  /**
   * Features of one batch: `data` is NHWC float32 of `shape`; the buffer is copied, not taken.
   * The session computes it in runs of `settings.imagesPerRun` images, with the same bits.
   */
  run(data: Float32Array, shape: readonly number[]): Promise<{ data: Float32Array; shape: number[] }>;
  /** `run` on a tensor's values, as a tensor of the active tfjs backend. */
  extract(x: tf.Tensor): Promise<tf.Tensor>;
  /** Releases the session and ends the thread; pending batches are rejected. */
  close(): Promise<void>;
}

/** Thrown when the session cannot be created or a batch fails in it (the worker's message says why). */
export class OrtSessionError extends Error {
  override name = 'OrtSessionError';
}

const ReplySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('result'), id: z.number(), data: z.instanceof(Float32Array), shape: z.array(z.number().int()) }),
  z.object({ type: z.literal('error'), id: z.number().optional(), message: z.string() }),
]);

interface Pending {
  resolve: (value: { data: Float32Array; shape: number[] }) => void;
  reject: (error: Error) => void;
}

/** Starts the worker and creates the session in it; resolves once the session is ready. */
export async function startOrtExtractor(graph: OrtGraph, settings: OrtSettings): Promise<OrtExtractor> {
  const worker = new Worker(new URL('./ort-worker-entry.mjs', import.meta.url));
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let failure: Error | undefined;
  let exited = false;
  const failAll = (error: Error) => {
    failure ??= error;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };

  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (raw: unknown) => {
      const reply = ReplySchema.parse(raw);
      if (reply.type === 'ready') resolve();
      else if (reply.type === 'result') {
        pending.get(reply.id)?.resolve({ data: reply.data, shape: reply.shape });
        pending.delete(reply.id);
      } else if (reply.id !== undefined) {
        pending.get(reply.id)?.reject(new OrtSessionError(`ONNX Runtime batch failed: ${reply.message}`));
        pending.delete(reply.id);
      } else {
        const error = new OrtSessionError(`Create ONNX Runtime session failed: ${reply.message}`);
        reject(error);
        failAll(error);
      }
    });
    worker.on('error', (error) => {
      reject(error);
      failAll(error);
    });
    worker.on('exit', (code) => {
      exited = true;
      const error = new OrtSessionError(`ONNX Runtime worker exited (code ${code})`);
      reject(error);
      failAll(error);
    });
  });
  // Copied into the message: the graph stays usable by the caller (a retry on another provider).
  worker.postMessage({ type: 'init', model: graph.model, inputName: graph.inputName, outputName: graph.outputName, settings });
  try {
    await ready;
  } catch (error) {
    await worker.terminate();
    throw error;
  }

  /** Hands `data` (its buffer transferred, unusable here afterwards) to the worker. */
  const runTaken = (data: Float32Array<ArrayBuffer>, shape: readonly number[]) =>
    new Promise<{ data: Float32Array; shape: number[] }>((resolve, reject) => {
      if (failure) {
        reject(failure);
        return;
      }
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ type: 'run', id, data, shape: [...shape] }, [data.buffer]);
    });

  return {
    settings,
    run: (data, shape) => runTaken(data.slice(), shape),
    async extract(x: tf.Tensor): Promise<tf.Tensor> {
      const values = await x.data();
      if (!(values instanceof Float32Array)) throw new OrtSessionError(`ONNX Runtime batch failed: the images are ${x.dtype}, not float32`);
      // wasm and the GPU backends read a tensor into a new array, which can be handed over as
      // it is; tfjs' cpu backend returns the tensor's own storage, which must be copied.
      const fresh = tf.getBackend() !== 'cpu' && values.byteOffset === 0 && values.byteLength === values.buffer.byteLength && values.buffer instanceof ArrayBuffer;
      const result = await runTaken(fresh ? (values as Float32Array<ArrayBuffer>) : values.slice(), x.shape);
      return tf.tensor(result.data, result.shape, 'float32');
    },
    async close(): Promise<void> {
      if (exited) return;
      const done = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ type: 'close' });
      await done;
    },
  };
}
