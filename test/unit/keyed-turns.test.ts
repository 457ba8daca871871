import assert from 'node:assert/strict';
import { KeyedTurns } from '../../activities/features/keyed-turns.ts';

describe('keyed turns (one pass of features computed at a time per identity)', () => {
  it('runs jobs with the same key one after another and jobs with other keys alongside', async () => {
    const turns = new KeyedTurns();
    const events: string[] = [];
    let releaseFirst!: () => void;
    const firstBlocked = new Promise<void>((resolve) => (releaseFirst = resolve));
    const first = turns.run('pass-a', async () => {
      events.push('a1 start');
      await firstBlocked;
      events.push('a1 end');
    });
    const second = turns.run('pass-a', async () => {
      events.push('a2 start');
    });
    await turns.run('pass-b', async () => {
      events.push('b start');
    });
    releaseFirst();
    await Promise.all([first, second]);
    assert.deepEqual(events, ['a1 start', 'b start', 'a1 end', 'a2 start']);
  });

  it('hands the turn on when a job fails, and rethrows to its caller only', async () => {
    const turns = new KeyedTurns();
    const failing = turns.run('pass', async () => {
      throw new Error('backbone failed');
    });
    const next = turns.run('pass', async () => 'computed');
    await assert.rejects(failing, /backbone failed/);
    assert.equal(await next, 'computed');
  });
});
