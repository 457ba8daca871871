import * as tf from '@tensorflow/tfjs-core';
import { TrainingDivergedError } from '../../common/errors.ts';
import type { EarlyStoppingSpec, TrainSettings } from '../../common/model-spec.ts';
import type { Batch, BatchSource } from '../data/batch-source.ts';
import type { Checkpoint, CheckpointStore, EpochLog } from './checkpoint-store.ts';
import { correctCount, type Targets } from './loss-targets.ts';
import { lossValue } from './losses.ts';
import type { ModelPasses } from './model-passes.ts';
import { epochLog, finishEpoch, hasEpochsLeft, midEpochState, startEpoch, tallyBatch, type TrainingState } from './training-state.ts';
import type { Evaluation } from './validation.ts';

/** Progress reported while training: after every batch, and after every epoch's checkpoint. */
export type TrainProgress =
  | { kind: 'batch'; epoch: number; batch: number; loss: number; checkpoint?: string }
  | { kind: 'epoch'; epoch: number; log: EpochLog; checkpoint?: string };

export interface TrainingLoopOptions {
  /** Where training stands: fresh, or restored from a checkpoint. */
  state: TrainingState;
  epochs: number;
  seed: number;
  train: BatchSource;
  validation?: BatchSource;
  batchSize: number;
  /** One optimizer step on a batch; returns [loss, correct] (the only readback per batch). */
  step: (batch: Batch, dropoutSeed: string) => tf.Tensor;
  /** The epoch's validation metrics. */
  validate: (source: BatchSource) => Promise<Evaluation>;
  earlyStopping?: EarlyStoppingSpec;
  checkpoints?: CheckpointStore;
  /** Also checkpoint every N batches inside an epoch. */
  checkpointEveryBatches?: number;
  /** The state plus the weights and optimizer slots, as a checkpoint stores them. */
  capture: (state: TrainingState) => Promise<Checkpoint>;
  onProgress?: (progress: TrainProgress) => void | Promise<void>;
  signal?: AbortSignal;
}

/**
 * Trains epochs until all are done or early stopping ends them, continuing from `state`: the
 * batches a mid-epoch checkpoint already trained are drawn and skipped (so the source's order
 * and every seeded draw stay those of an uninterrupted run) and its sums continue. A checkpoint
 * is saved before the progress that names it is reported. Returns the final state.
 */
export async function runTrainingLoop(options: TrainingLoopOptions): Promise<TrainingState> {
  const { seed, train, validation, checkpoints, onProgress, signal } = options;
  const every = options.checkpointEveryBatches;
  const batchesPerEpoch = Math.ceil(train.size / options.batchSize);
  let state = options.state;
  while (hasEpochsLeft(state, options.epochs)) {
    const epochIndex = state.epoch;
    const epoch = epochIndex + 1;
    const started = performance.now();
    const begun = startEpoch(state);
    state = begun.state;
    const { tally } = begun;
    const skip = tally.batches;
    let drawn = 0;
    for await (const batch of train.batches(epochIndex, seed)) {
      if (drawn < skip) {
        tf.dispose([batch.x, batch.y]);
        drawn++;
        continue;
      }
      signal?.throwIfAborted();
      const stats = options.step(batch, `${seed}:${epochIndex}:${drawn}`);
      const [loss = Number.NaN, batchCorrect = 0] = await stats.data();
      stats.dispose();
      if (!Number.isFinite(loss)) {
        throw new TrainingDivergedError(`Train model failed: loss is ${loss} at epoch ${epoch}, batch ${drawn + 1}; lower the learning rate`);
      }
      tallyBatch(tally, loss, batchCorrect, batch.x.shape[0] ?? 0);
      tf.dispose([batch.x, batch.y]);
      drawn++;
      const due = checkpoints && every !== undefined && drawn % every === 0 && drawn < batchesPerEpoch;
      const checkpoint = due ? await checkpoints.save(await options.capture(midEpochState(state, tally, (performance.now() - started) / 1000))) : undefined;
      await onProgress?.({ kind: 'batch', epoch, batch: drawn, loss, ...(checkpoint ? { checkpoint } : {}) });
    }
    const log = epochLog(epoch, tally, (performance.now() - started) / 1000);
    if (validation) {
      const val = await options.validate(validation);
      log.valLoss = val.loss;
      log.valAccuracy = val.accuracy;
      if (Number.isFinite(val.auc)) log.valAuc = val.auc;
    }
    state = finishEpoch(state, log, options.earlyStopping);
    const checkpoint = checkpoints ? await checkpoints.save(await options.capture(state)) : undefined;
    await onProgress?.({ kind: 'epoch', epoch, log, ...(checkpoint ? { checkpoint } : {}) });
  }
  return state;
}

export interface OptimizerStepOptions {
  passes: ModelPasses;
  targetsOf: (y: Batch['y']) => Targets;
  loss: TrainSettings['loss'];
  optimizer: tf.Optimizer;
  /** The variables the optimizer updates, in the model's order (the optimizer's slot order). */
  trainable: tf.Variable[];
}

/** One optimizer step on a batch; returns [loss, correct]. */
export function optimizerStep({ passes, targetsOf, loss, optimizer, trainable }: OptimizerStepOptions): (batch: Batch, dropoutSeed: string) => tf.Tensor {
  return ({ x, y }, dropoutSeed) =>
    tf.tidy(() => {
      let correctInBatch: tf.Scalar | undefined;
      const input = passes.headInput(x);
      const { value, grads } = tf.variableGrads(() => {
        const probabilities = passes.forwardTrain(input, dropoutSeed);
        const { target, labels, sampleWeights } = targetsOf(y);
        correctInBatch = tf.keep(correctCount(labels, probabilities));
        return lossValue(loss, target, probabilities, sampleWeights);
      }, trainable);
      optimizer.applyGradients(grads);
      const stats = tf.stack([value, correctInBatch ?? tf.scalar(0)]);
      correctInBatch?.dispose();
      return stats;
    });
}
