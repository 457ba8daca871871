import type { EarlyStoppingSpec } from '../../common/model-spec.ts';
import type { CheckpointState, EpochLog } from './checkpoint-store.ts';

/**
 * Where training stands, as the checkpoints store it: epochs done, the batches already trained
 * into the next epoch with their running sums, early stopping's best value and patience, the
 * history. With the weights and the optimizer's slots it is all a resume needs to continue
 * bit-identically (every random draw derives from seed, epoch and batch). Transitions return a
 * new state; the tally of the epoch in progress is the one mutable part.
 */
export type TrainingState = CheckpointState;

/** The state of a run that has trained nothing yet. */
export function freshTrainingState(seed: number, engine: string): TrainingState {
  return {
    epoch: 0,
    history: [],
    rng: { seed },
    earlyStopping: { best: null, bestEpoch: 0, wait: 0, stopped: false },
    weightSpecs: [],
    optimizerSpecs: [],
    engine,
  };
}

/** Whether epochs remain: neither all `epochs` done nor stopped early. */
export function hasEpochsLeft(state: TrainingState, epochs: number): boolean {
  return state.epoch < epochs && !state.earlyStopping.stopped;
}

/** Running sums of the epoch in progress: continued from a mid-epoch checkpoint, else zero. */
export interface EpochTally {
  /** Batches of this epoch already trained (a resume draws and skips them). */
  batches: number;
  lossSum: number;
  correct: number;
  count: number;
  /** Seconds trained in this epoch by earlier attempts. */
  secondsBefore: number;
}

/** Starts the epoch after `state.epoch`: takes over a mid-epoch checkpoint's sums, which the state then drops. */
export function startEpoch(state: TrainingState): { state: TrainingState; tally: EpochTally } {
  const { partial, ...rest } = state;
  return {
    state: rest,
    tally: { batches: partial?.batches ?? 0, lossSum: partial?.lossSum ?? 0, correct: partial?.correct ?? 0, count: partial?.count ?? 0, secondsBefore: partial?.seconds ?? 0 },
  };
}

/** Adds one trained batch (mean loss over its `n` examples) to the tally. */
export function tallyBatch(tally: EpochTally, loss: number, correct: number, n: number): void {
  tally.lossSum += loss * n;
  tally.correct += correct;
  tally.count += n;
  tally.batches += 1;
}

/** The state a checkpoint inside the epoch stores: the epochs before it plus this epoch's tally. */
export function midEpochState(state: TrainingState, tally: EpochTally, secondsThisAttempt: number): TrainingState {
  const { batches, lossSum, correct, count, secondsBefore } = tally;
  return { ...state, partial: { batches, lossSum, correct, count, seconds: secondsBefore + secondsThisAttempt } };
}

/** The epoch's training metrics (validation metrics are added by the caller). */
export function epochLog(epoch: number, tally: EpochTally, secondsThisAttempt: number): EpochLog {
  const seconds = tally.secondsBefore + secondsThisAttempt;
  const { lossSum, correct, count } = tally;
  return { epoch, loss: lossSum / Math.max(count, 1), accuracy: correct / Math.max(count, 1), seconds, examplesPerSecond: count / seconds };
}

/** The state after a finished epoch: its log appended and early stopping updated. */
export function finishEpoch(state: TrainingState, log: EpochLog, early: EarlyStoppingSpec | undefined): TrainingState {
  return { ...state, epoch: log.epoch, history: [...state.history, log], earlyStopping: nextEarlyStopping(state.earlyStopping, log, early) };
}

function monitored(log: EpochLog, monitor: EarlyStoppingSpec['monitor']): number | undefined {
  return monitor === 'valLoss' ? log.valLoss : monitor === 'valAccuracy' ? log.valAccuracy : log.valAuc;
}

/** Keras's EarlyStopping: an improvement beyond `minDelta` resets the wait; `patience` waits stop. */
function nextEarlyStopping(current: TrainingState['earlyStopping'], log: EpochLog, early: EarlyStoppingSpec | undefined): TrainingState['earlyStopping'] {
  if (!early) return current;
  const value = monitored(log, early.monitor);
  if (value === undefined) return current;
  const sign = early.monitor === 'valLoss' ? -1 : 1;
  const improved = current.best === null || sign * (value - current.best) > early.minDelta;
  if (improved) return { best: value, bestEpoch: log.epoch, wait: 0, stopped: false };
  const wait = current.wait + 1;
  return { ...current, wait, stopped: wait >= early.patience };
}
