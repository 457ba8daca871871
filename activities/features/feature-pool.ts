import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { serializeModel } from '../model-io/layers-model-io.ts';
import type { PoolingKind } from './pooling.ts';

/**
 * Frozen-backbone feature extraction on several worker threads, each with its own wasm engine
 * and a copy of the backbone (batch-norm folded): Node runs wasm single-threaded, so this is how
 * the CPU engine uses more than one core. Each batch is split across the workers and the
 * results are put back in order, so features are identical to the single-threaded ones.
 */

export interface FeaturePool {
  readonly workers: number;
  /** Features of a batch (NHWC images) after the backbone and the given pooling layers. */
  extract(x: tf.Tensor): Promise<tf.Tensor>;
  close(): Promise<void>;
}

export interface FeaturePoolOptions {
  /** @default os.availableParallelism() */
  workers?: number;
  /** Weightless head layers to apply in the workers (cached features are pooled). */
  pooling: PoolingKind[];
}

const ReplySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('result'), id: z.number(), data: z.instanceof(Float32Array), shape: z.array(z.number().int()) }),
  z.object({ type: z.literal('error'), message: z.string() }),
]);

interface Pending {
  resolve: (value: { data: Float32Array; shape: number[] }) => void;
  reject: (error: Error) => void;
}

class WorkerHandle {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  readonly ready: Promise<void>;

  constructor(modelJson: unknown, weights: Uint8Array, pooling: PoolingKind[]) {
    this.#worker = new Worker(new URL('./feature-worker-entry.mjs', import.meta.url));
    this.ready = new Promise<void>((resolve, reject) => {
      this.#worker.on('message', (raw: unknown) => {
        const reply = ReplySchema.parse(raw);
        if (reply.type === 'ready') resolve();
        else if (reply.type === 'error') {
          const error = new Error(`Feature worker failed: ${reply.message}`);
          reject(error);
          for (const pending of this.#pending.values()) pending.reject(error);
          this.#pending.clear();
        } else {
          this.#pending.get(reply.id)?.resolve({ data: reply.data, shape: reply.shape });
          this.#pending.delete(reply.id);
        }
      });
      this.#worker.on('error', (error) => {
        reject(error);
        for (const pending of this.#pending.values()) pending.reject(error);
      });
    });
    this.#worker.postMessage({ type: 'init', modelJson, weights, pooling });
  }

  run(data: Float32Array<ArrayBuffer>, shape: number[]): Promise<{ data: Float32Array; shape: number[] }> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ type: 'run', id, data, shape }, [data.buffer]);
    });
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }
}

/** Starts the workers and loads the backbone into each (resolves once all are ready). */
export async function createFeaturePool(backbone: tfl.LayersModel, options: FeaturePoolOptions): Promise<FeaturePool> {
  const count = Math.max(1, options.workers ?? availableParallelism());
  const { modelJson, weights } = await serializeModel(backbone);
  const handles = Array.from({ length: count }, () => new WorkerHandle(modelJson, weights, options.pooling));
  try {
    await Promise.all(handles.map((handle) => handle.ready));
  } catch (error) {
    await Promise.all(handles.map((handle) => handle.terminate()));
    throw error;
  }
  return {
    workers: count,
    async extract(x: tf.Tensor): Promise<tf.Tensor> {
      const [n = 0, ...rest] = x.shape;
      const values = await x.data();
      const perExample = rest.reduce((a, b) => a * b, 1);
      const share = Math.ceil(n / count);
      const parts = handles
        .map((handle, i) => {
          const start = Math.min(n, i * share);
          const end = Math.min(n, start + share);
          return { handle, start, end };
        })
        .filter(({ start, end }) => end > start)
        .map(({ handle, start, end }) => {
          const part = new Float32Array((end - start) * perExample);
          part.set(values.subarray(start * perExample, end * perExample));
          return handle.run(part, [end - start, ...rest]);
        });
      const results = await Promise.all(parts);
      const [first] = results;
      if (!first) return tf.zeros([0]);
      const total = results.reduce((sum, r) => sum + r.data.length, 0);
      const joined = new Float32Array(total);
      let offset = 0;
      for (const r of results) {
        joined.set(r.data, offset);
        offset += r.data.length;
      }
      return tf.tensor(joined, [n, ...first.shape.slice(1)]);
    },
    async close(): Promise<void> {
      await Promise.all(handles.map((handle) => handle.terminate()));
    },
  };
}
