import { z } from 'zod';
import type { ObjectStore } from '../object-store.ts';

/**
 * Epoch checkpoints: where a retried training attempt resumes. A checkpoint is written after
 * every epoch, before the activity heartbeats it, so a heartbeat never names a checkpoint that
 * is not stored yet.
 */

const WeightSpecSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().min(0)),
  dtype: z.enum(['float32', 'int32', 'bool', 'string', 'complex64']),
});

const EpochLogSchema = z.object({
  epoch: z.number().int().positive(),
  loss: z.number(),
  accuracy: z.number().optional(),
  valLoss: z.number().optional(),
  valAccuracy: z.number().optional(),
  valAuc: z.number().optional(),
  seconds: z.number(),
  examplesPerSecond: z.number(),
});
/** Metrics of one finished epoch (1-based `epoch`). */
export type EpochLog = z.infer<typeof EpochLogSchema>;

export const CheckpointStateSchema = z.object({
  /** Epochs completed (1-based): training resumes with the next one. */
  epoch: z.number().int().positive(),
  history: z.array(EpochLogSchema),
  /** Every random draw derives from (seed, epoch, batch), so the seed is the whole RNG state. */
  rng: z.object({ seed: z.number().int() }),
  earlyStopping: z.object({ best: z.number().nullable(), bestEpoch: z.number().int(), wait: z.number().int(), stopped: z.boolean() }),
  weightSpecs: z.array(WeightSpecSchema),
  optimizerSpecs: z.array(WeightSpecSchema),
  /** Engine that wrote it (resuming on another engine is allowed, but no longer bit-identical). */
  engine: z.string(),
});
export type CheckpointState = z.infer<typeof CheckpointStateSchema>;

export interface Checkpoint {
  state: CheckpointState;
  /** Model weights (`state.weightSpecs` order), as `tf.io.encodeWeights` writes them. */
  weights: Uint8Array;
  /** Optimizer slots (`state.optimizerSpecs` order). */
  optimizer: Uint8Array;
}

export interface CheckpointStore {
  /** Stores a checkpoint and returns where (for heartbeats and outputs). */
  save(checkpoint: Checkpoint): Promise<string>;
  /** The checkpoint with the highest epoch, if any. */
  latest(): Promise<Checkpoint | undefined>;
}

/** Checkpoints kept in memory (tests, and runs that need no durability). */
export class MemoryCheckpointStore implements CheckpointStore {
  readonly saved: Checkpoint[] = [];

  async save(checkpoint: Checkpoint): Promise<string> {
    this.saved.push(structuredClone(checkpoint));
    return `memory:epoch-${checkpoint.state.epoch}`;
  }

  async latest(): Promise<Checkpoint | undefined> {
    const best = this.saved.reduce<Checkpoint | undefined>((a, b) => (a && a.state.epoch >= b.state.epoch ? a : b), undefined);
    return best && structuredClone(best);
  }
}

/** Object-store key prefix of a training step's checkpoints. */
export function checkpointPrefix(workflowId: string, stepId: string): string {
  return `runs/${workflowId}/${stepId}/checkpoints`;
}

/**
 * Checkpoints under `<prefix>/epoch-N/` (`weights.bin`, `optimizer.bin`, then `checkpoint.json`
 * last: a checkpoint counts only once its JSON exists, so a crash mid-write is ignored).
 */
export class ObjectStoreCheckpointStore implements CheckpointStore {
  constructor(
    private readonly store: ObjectStore,
    private readonly prefix: string,
  ) {}

  async save({ state, weights, optimizer }: Checkpoint): Promise<string> {
    const dir = `${this.prefix}/epoch-${state.epoch}`;
    await this.store.put(`${dir}/weights.bin`, Buffer.from(weights));
    await this.store.put(`${dir}/optimizer.bin`, Buffer.from(optimizer));
    await this.store.putJson(`${dir}/checkpoint.json`, state);
    return `${dir}/`;
  }

  async latest(): Promise<Checkpoint | undefined> {
    const epochs = (await this.store.list(`${this.prefix}/`))
      .map((key) => /\/epoch-(\d+)\/checkpoint\.json$/.exec(key)?.[1])
      .filter((epoch): epoch is string => epoch !== undefined)
      .map(Number);
    if (epochs.length === 0) return undefined;
    const dir = `${this.prefix}/epoch-${Math.max(...epochs)}`;
    const state = CheckpointStateSchema.parse(await this.store.getJson(`${dir}/checkpoint.json`));
    return {
      state,
      weights: new Uint8Array(await this.store.get(`${dir}/weights.bin`)),
      optimizer: new Uint8Array(await this.store.get(`${dir}/optimizer.bin`)),
    };
  }
}
