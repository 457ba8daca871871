import assert from 'node:assert/strict';
import { heartbeatThrottle } from '../../activities/steps/heartbeat-throttle.ts';
import { manualTimer } from '../helpers/manual-timer.ts';

describe('step heartbeat throttle', () => {
  it('sends the first report at once and then the latest one per second, never dropping the last', () => {
    const clock = manualTimer();
    const sent: object[] = [];
    const throttle = heartbeatThrottle((details) => sent.push(details), { timer: clock.timer, now: clock.now });
    throttle.beat({ n: 1 });
    throttle.beat({ n: 2 });
    throttle.beat({ n: 3 });
    assert.deepEqual(sent, [{ n: 1 }]);
    clock.advance(999);
    assert.deepEqual(sent, [{ n: 1 }]);
    clock.advance(1);
    assert.deepEqual(sent, [{ n: 1 }, { n: 3 }]);
    clock.advance(5_000);
    assert.deepEqual(sent, [{ n: 1 }, { n: 3 }], 'nothing repeated without repeatMs');
  });

  it('sends a report at once when the last send is more than a second old', () => {
    const clock = manualTimer();
    const sent: object[] = [];
    const throttle = heartbeatThrottle((details) => sent.push(details), { timer: clock.timer, now: clock.now });
    throttle.beat({ n: 1 });
    clock.advance(1_500);
    throttle.beat({ n: 2 });
    assert.deepEqual(sent, [{ n: 1 }, { n: 2 }]);
  });

  it('with repeatMs, resends the latest report every second until stopped', () => {
    const clock = manualTimer();
    const sent: object[] = [];
    const throttle = heartbeatThrottle((details) => sent.push(details), { repeatMs: 1_000, timer: clock.timer, now: clock.now });
    throttle.beat({ n: 1 });
    clock.advance(1_000);
    throttle.beat({ n: 2 });
    clock.advance(2_000);
    assert.deepEqual(sent, [{ n: 1 }, { n: 1 }, { n: 2 }, { n: 2 }]);
    throttle.stop();
    throttle.beat({ n: 3 });
    clock.advance(5_000);
    assert.equal(sent.length, 4, 'nothing sent after stop');
  });

  it('sends a due report from beat itself while the event loop is too busy to run timers', () => {
    const clock = manualTimer();
    const sent: object[] = [];
    const throttle = heartbeatThrottle((details) => sent.push(details), { repeatMs: 1_000, timer: clock.timer, now: clock.now });
    throttle.beat({ batch: 1 });
    clock.block(400);
    throttle.beat({ batch: 2 });
    clock.block(700);
    throttle.beat({ batch: 3 });
    assert.deepEqual(sent, [{ batch: 1 }, { batch: 3 }]);
  });

  it('with everyMs 0, forwards every report at once and repeats the latest after a quiet interval', () => {
    const clock = manualTimer();
    const sent: object[] = [];
    const throttle = heartbeatThrottle((details) => sent.push(details), { everyMs: 0, repeatMs: 1_000, timer: clock.timer, now: clock.now });
    throttle.beat({ batch: 1 });
    throttle.beat({ batch: 2 });
    clock.advance(600);
    throttle.beat({ batch: 3 });
    assert.deepEqual(sent, [{ batch: 1 }, { batch: 2 }, { batch: 3 }]);
    clock.advance(999);
    assert.equal(sent.length, 3);
    clock.advance(1);
    assert.deepEqual(sent.at(-1), { batch: 3 });
    assert.equal(sent.length, 4);
  });

  it('sends no pending report once stopped', () => {
    const clock = manualTimer();
    const sent: object[] = [];
    const throttle = heartbeatThrottle((details) => sent.push(details), { timer: clock.timer, now: clock.now });
    throttle.beat({ n: 1 });
    throttle.beat({ n: 2 });
    throttle.stop();
    clock.advance(2_000);
    assert.deepEqual(sent, [{ n: 1 }]);
  });
});
