import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { trainHeartbeater, type TrainHeartbeat } from '../../activities/training/train-heartbeat.ts';

describe('train step heartbeats', () => {
  it('reports the load phase at once, then batches and epochs with the epoch count and batches per epoch', () => {
    const beats: TrainHeartbeat[] = [];
    const heartbeater = trainHeartbeater((details) => beats.push(details), { epochs: 3 });
    heartbeater.loaded(4);
    heartbeater.report({ kind: 'batch', epoch: 1, batch: 2, loss: 0.7 });
    heartbeater.stop();
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
    heartbeater.stop();
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

  it('repeats the latest details every second while nothing new happens, and stops when told', async function () {
    this.timeout(5_000);
    const beats: TrainHeartbeat[] = [];
    const heartbeater = trainHeartbeater((details) => beats.push(details), { epochs: 1 });
    await sleep(2_300);
    heartbeater.stop();
    const count = beats.length;
    await sleep(1_200);
    assert.equal(count, 3, 'one at start and one per second');
    assert.equal(beats.length, count, 'no heartbeat after stop');
    assert.ok(beats.every((beat) => beat.phase === 'load'));
  });
});
