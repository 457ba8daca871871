import assert from 'node:assert/strict';
import { overlapped } from '../../activities/features/overlapped.ts';

/** A promise settled from outside, to order events without timers. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('overlapped batches (the feature stage keeps its engine busy)', () => {
  it('starts the next item before the previous one finishes, and finishes them in order', async () => {
    const gates = [deferred<string>(), deferred<string>(), deferred<string>()];
    const events: string[] = [];
    const run = overlapped([0, 1, 2], {
      start: (i) => {
        events.push(`start ${i}`);
        return gates[i]!.promise;
      },
      finish: (i, result) => {
        events.push(`finish ${i} ${result}`);
      },
    });
    // Item 1 completes first; its result still waits for item 0's.
    gates[1]!.resolve('b');
    gates[0]!.resolve('a');
    gates[2]!.resolve('c');
    await run;
    assert.deepEqual(events, ['start 0', 'start 1', 'finish 0 a', 'start 2', 'finish 1 b', 'finish 2 c']);
  });

  it('never has more than `depth` items started and unfinished', async () => {
    let open = 0;
    let most = 0;
    await overlapped(
      Array.from({ length: 10 }, (_, i) => i),
      {
        start: async (i) => {
          open++;
          most = Math.max(most, open);
          return i;
        },
        finish: () => {
          open--;
        },
      },
      3,
    );
    assert.equal(most, 3);
    assert.equal(open, 0);
  });

  it('on a failure, starts nothing more, discards what was started, and rethrows', async () => {
    const started: number[] = [];
    const discarded: number[] = [];
    async function* items() {
      for (let i = 0; i < 6; i++) yield i;
    }
    await assert.rejects(
      overlapped(items(), {
        start: async (i) => {
          started.push(i);
          if (i === 2) throw new Error('batch 2 failed');
          return i * 10;
        },
        finish: () => {},
        discard: (_, result) => {
          discarded.push(result);
        },
      }),
      /batch 2 failed/,
    );
    assert.deepEqual(started, [0, 1, 2, 3]);
    assert.deepEqual(discarded, [30]);
  });
});
