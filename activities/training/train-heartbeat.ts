import { setImmediate as nextTurn } from 'node:timers/promises';
import type { TrainProgress } from './trainer.ts';

/** What a train step heartbeats; the CLI's progress bars read these fields (client/runs/progress-bars.ts). */
export interface TrainHeartbeat {
  phase: 'load' | 'train';
  kind?: 'batch' | 'epoch';
  epoch?: number;
  epochs: number;
  batch?: number;
  batches?: number;
  loss?: number;
  /** The finished epoch's log (loss, accuracy, valLoss, valAccuracy, valAuc). */
  log?: object;
  /** Where the last epoch's checkpoint is stored (heartbeated only after it is written). */
  checkpoint?: string;
  /** Epochs restored from a checkpoint by this attempt (0: started fresh). */
  resumedFromEpoch?: number;
}

export interface TrainHeartbeater {
  /**
   * Heartbeats progress now (Temporal throttles what goes to the server) and resolves on the
   * event loop's next turn. Awaited between batches, so timers, the heartbeat's send and an
   * incoming cancellation run: awaiting a tensor's `data()` alone only drains microtasks, and
   * on wasm a whole epoch then held the thread at once (`npm run bench:event-loop`).
   */
  report(progress: TrainProgress): Promise<void>;
  /** Records the number of batches per epoch once the data is loaded. */
  loaded(batchesPerEpoch: number): void;
  /** Records that this attempt resumed after `epoch` epochs. */
  resumed(epoch: number): void;
}

/**
 * Heartbeats every batch and epoch. Details accumulate: a batch heartbeat still carries the
 * last checkpoint. The train step's heartbeat repeats the latest details while nothing new
 * happens (activities/steps/train.ts), so the timeout catches a dead worker, not a busy one.
 */
export function trainHeartbeater(heartbeat: (details: TrainHeartbeat) => void, options: { epochs: number }): TrainHeartbeater {
  let details: TrainHeartbeat = { phase: 'load', epochs: options.epochs };
  heartbeat(details);
  return {
    report(progress) {
      details =
        progress.kind === 'batch'
          ? { ...details, phase: 'train', kind: 'batch', epoch: progress.epoch, batch: progress.batch, loss: progress.loss, ...(progress.checkpoint ? { checkpoint: progress.checkpoint } : {}) }
          : {
              ...details,
              phase: 'train',
              kind: 'epoch',
              epoch: progress.epoch,
              loss: progress.log.loss,
              log: progress.log,
              ...(progress.checkpoint ? { checkpoint: progress.checkpoint } : {}),
            };
      heartbeat(details);
      return nextTurn();
    },
    loaded(batchesPerEpoch) {
      details = { ...details, batches: batchesPerEpoch };
    },
    resumed(epoch) {
      details = { ...details, resumedFromEpoch: epoch, epoch };
      heartbeat(details);
    },
  };
}
