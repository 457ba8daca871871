import assert from 'node:assert/strict';
import { heartbeatThrottle } from '../../activities/steps/heartbeat-throttle.ts';
import { TRAIN_HEARTBEAT } from '../../activities/steps/train.ts';
import { trainHeartbeater, type TrainHeartbeat } from '../../activities/training/train-heartbeat.ts';
import { manualTimer } from '../helpers/manual-timer.ts';

describe('train step heartbeats', () => {
  it('reports the load phase at once, then batches and epochs with the epoch count and batches per epoch', () => {
    const beats: TrainHeartbeat[] = [];
    const heartbeater = trainHeartbeater((details) => beats.push(details), { epochs: 3 });
    heartbeater.loaded(4);
    heartbeater.report({ kind: 'batch', epoch: 1, batch: 2, loss: 0.7 });
    assert.deepEqual(beats, [
      { phase: 'load', epochs: 3 },
      { phase: 'train', epochs: 3, batches: 4, kind: 'batch', epoch: 1, batch: 2, loss: 0.7 },
    ]);
  });

  it('keeps the last checkpoint and the resume point in later batch heartbeats', () => {
    const beats: TrainHeartbeat[] = [];
    const heartbeater = trainHeartbeater((details) => beats.push(details), { epochs: 3 });
    heartbeater.resumed(2);
    const log = { epoch: 3, loss: 0.5, accuracy: 0.75, seconds: 1, examplesPerSecond: 40 };
    heartbeater.report({ kind: 'epoch', epoch: 3, log, checkpoint: 'runs/w/train/checkpoints/epoch-3/' });
    heartbeater.report({ kind: 'batch', epoch: 4, batch: 1, loss: 0.4 });
    assert.deepEqual(beats.at(1), { phase: 'load', epochs: 3, resumedFromEpoch: 2, epoch: 2 });
    assert.deepEqual(beats.at(-1), {
      phase: 'train',
      epochs: 3,
      resumedFromEpoch: 2,
      kind: 'batch',
      epoch: 4,
      batch: 1,
      loss: 0.4,
      log,
      checkpoint: 'runs/w/train/checkpoints/epoch-3/',
    });
  });

  // The train step's heartbeat is the shared throttle with the train step's settings.
  it('repeats the latest details every second while nothing new happens, and stops when told', () => {
    const clock = manualTimer();
    const beats: TrainHeartbeat[] = [];
    const throttle = heartbeatThrottle<TrainHeartbeat>((details) => beats.push(details), { ...TRAIN_HEARTBEAT, timer: clock.timer, now: clock.now });
    trainHeartbeater((details) => throttle.beat(details), { epochs: 1 });
    clock.advance(2_300);
    throttle.stop();
    const count = beats.length;
    clock.advance(1_200);
    assert.equal(count, 3, 'one at start and one per second');
    assert.equal(beats.length, count, 'no heartbeat after stop');
    assert.ok(beats.every((beat) => beat.phase === 'load'));
  });
});
