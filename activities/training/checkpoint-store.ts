import { z } from 'zod';
import type { ObjectStore } from '../object-store.ts';

/**
 * Epoch checkpoints: where a retried training attempt resumes. A checkpoint is written after
 * every epoch (and every N batches with `checkpointEveryBatches`), before the activity heartbeats it, so a heartbeat never names a checkpoint that
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

/** Progress inside the epoch after `epoch`: batches trained and the running sums of its log. */
const PartialEpochSchema = z.object({
  batches: z.number().int().positive(),
  lossSum: z.number(),
  correct: z.number(),
  count: z.number().int().min(0),
  seconds: z.number().min(0),
});
export type PartialEpoch = z.infer<typeof PartialEpochSchema>;

export const CheckpointStateSchema = z.object({
  /** Epochs completed (1-based): training resumes with the next one. 0 only with `partial`. */
  epoch: z.number().int().min(0),
  /** Set by a checkpoint written inside an epoch (`checkpointEveryBatches`): resume skips these batches. */
  partial: PartialEpochSchema.optional(),
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
  /** The latest checkpoint (highest epoch, then most batches into the next one), if any. */
  latest(): Promise<Checkpoint | undefined>;
}

/** Checkpoints kept in memory (tests, and runs that need no durability). */
export class MemoryCheckpointStore implements CheckpointStore {
  readonly saved: Checkpoint[] = [];

  async save(checkpoint: Checkpoint): Promise<string> {
    this.saved.push(structuredClone(checkpoint));
    return `memory:${checkpointName(checkpoint.state)}`;
  }

  async latest(): Promise<Checkpoint | undefined> {
    const best = this.saved.reduce<Checkpoint | undefined>((a, b) => (a && compareProgress(progressOf(a.state), progressOf(b.state)) >= 0 ? a : b), undefined);
    return best && structuredClone(best);
  }
}

/** Folder name of a checkpoint: `epoch-N` after epoch N, `epoch-N-batch-B` B batches into epoch N+1. */
export function checkpointName(state: Pick<CheckpointState, 'epoch' | 'partial'>): string {
  return folderOf(progressOf(state));
}

/** Epochs completed, then batches trained of the next epoch. */
type Progress = [epoch: number, batches: number];

function folderOf([epoch, batches]: Progress): string {
  return batches > 0 ? `epoch-${epoch}-batch-${batches}` : `epoch-${epoch}`;
}

function progressOf(state: Pick<CheckpointState, 'epoch' | 'partial'>): Progress {
  return [state.epoch, state.partial?.batches ?? 0];
}

function compareProgress(a: Progress, b: Progress): number {
  return a[0] - b[0] || a[1] - b[1];
}

/** Object-store key prefix of a training step's checkpoints. */
export function checkpointPrefix(workflowId: string, stepId: string): string {
  return `runs/${workflowId}/${stepId}/checkpoints`;
}

/**
 * Checkpoints under `<prefix>/epoch-N/` or `<prefix>/epoch-N-batch-B/` (`weights.bin`, `optimizer.bin`, then `checkpoint.json`
 * last: a checkpoint counts only once its JSON exists, so a crash mid-write is ignored).
 */
export class ObjectStoreCheckpointStore implements CheckpointStore {
  constructor(
    private readonly store: ObjectStore,
    private readonly prefix: string,
  ) {}

  async save({ state, weights, optimizer }: Checkpoint): Promise<string> {
    const dir = `${this.prefix}/${checkpointName(state)}`;
    await this.store.put(`${dir}/weights.bin`, Buffer.from(weights));
    await this.store.put(`${dir}/optimizer.bin`, Buffer.from(optimizer));
    await this.store.putJson(`${dir}/checkpoint.json`, state);
    return `${dir}/`;
  }

  async latest(): Promise<Checkpoint | undefined> {
    const found = (await this.store.list(`${this.prefix}/`)).flatMap((key): Progress[] => {
      const match = /\/epoch-(\d+)(?:-batch-(\d+))?\/checkpoint\.json$/.exec(key);
      return match ? [[Number(match[1]), Number(match[2] ?? 0)]] : [];
    });
    const latest = found.sort(compareProgress).at(-1);
    if (!latest) return undefined;
    const dir = `${this.prefix}/${folderOf(latest)}`;
    const state = CheckpointStateSchema.parse(await this.store.getJson(`${dir}/checkpoint.json`));
    return {
      state,
      weights: new Uint8Array(await this.store.get(`${dir}/weights.bin`)),
      optimizer: new Uint8Array(await this.store.get(`${dir}/optimizer.bin`)),
    };
  }
}
