import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { trainStep } from '../../common/step-kinds/index.ts';
import { expandMatrix, metricValue, selectTrial, type ResolvedSweep } from '../../common/sweep.ts';
import { fanIn, runPool, type TrialResult } from '../../workflows/sweep.ts';

const sweepOf = (count: number, extra: Partial<ResolvedSweep> = {}): ResolvedSweep => ({
  trials: Array.from({ length: count }, (_, index) => ({ index, matrix: { lr: index } })),
  maxParallel: count,
  minSuccess: count,
  ...extra,
});

describe('sweeps: expansion, selection and fan-in', () => {
  it('expands a matrix with the first entry varying slowest, leaving out excluded combinations', () => {
    assert.deepEqual(expandMatrix({ lr: [1, 2], units: [4, 8] }, [{ lr: 2, units: 4 }]), [
      { lr: 1, units: 4 },
      { lr: 1, units: 8 },
      { lr: 2, units: 8 },
    ]);
  });

  it('reads the select metric from an output, a dotted path, or the kind\'s named metrics', () => {
    const outputs = { epochs: 3, finalMetrics: { valAuc: 0.8 }, nested: { auc: 0.7 } };
    assert.equal(metricValue(trainStep, outputs, 'epochs'), 3);
    assert.equal(metricValue(trainStep, outputs, 'valAuc'), 0.8);
    assert.equal(metricValue(trainStep, outputs, 'nested.auc'), 0.7);
    assert.equal(metricValue(trainStep, outputs, 'valLoss'), undefined);
    assert.equal(metricValue({}, { value: Number.NaN }, 'value'), undefined, 'NaN is no metric');
  });

  it('breaks ties by the lowest trial index, whatever order the trials finished in', () => {
    const trials = [
      { index: 3, metric: 0.9 },
      { index: 1, metric: 0.9 },
      { index: 2, metric: 0.5 },
    ];
    assert.equal(selectTrial(trials, 'max')?.index, 1);
    assert.equal(selectTrial(trials, 'min')?.index, 2);
  });

  it('runs at most `limit` items at once, starting them in order, and settles every item even when some fail', async () => {
    let running = 0;
    let peak = 0;
    const startOrder: number[] = [];
    const gates = Array.from({ length: 6 }, () => {
      let resolve = (): void => {};
      const promise = new Promise<void>((done) => (resolve = done));
      return { promise, resolve };
    });
    const results = runPool([0, 1, 2, 3, 4, 5], 2, async (item) => {
      startOrder.push(item);
      running += 1;
      peak = Math.max(peak, running);
      await gates[item]?.promise;
      running -= 1;
      if (item === 4) throw new Error('trial 4 failed');
      return item * 10;
    });
    // Finish them out of order: the freed lane takes the next item in index order.
    for (const item of [1, 0, 3, 2, 5, 4]) {
      gates[item]?.resolve();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const settled = await results;
    assert.equal(peak, 2);
    assert.deepEqual(startOrder, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(settled.map((result) => (result.ok ? result.value : 'failed')), [0, 10, 20, 30, 'failed', 50]);
  });

  it("fans in: the selected trial's outputs plus every trial's record", () => {
    const results: TrialResult[] = [0.2, 0.7, 0.7].map((value, index) => ({ outputs: { value, key: `k${index}` }, cached: index === 0, cacheKey: `c${index}` }));
    const { outputs, trials } = fanIn('sweep', {}, sweepOf(3, { select: { metric: 'value', goal: 'max' } }), results);
    assert.equal(outputs['key'], 'k1', 'tie between #1 and #2: the lowest index wins');
    assert.deepEqual(
      trials.map(({ index, status, metric, selected }) => ({ index, status, metric, selected })),
      [
        { index: 0, status: 'succeeded', metric: 0.2, selected: false },
        { index: 1, status: 'succeeded', metric: 0.7, selected: true },
        { index: 2, status: 'succeeded', metric: 0.7, selected: false },
      ],
    );
    assert.deepEqual(outputs['trials'], trials);
    assert.deepEqual(outputs['selectedTrial'], { index: 1, matrix: { lr: 1 }, metric: 0.7, select: { metric: 'value', goal: 'max' } });
    assert.ok(trials.every((trial) => !('cached' in trial) && !('cacheKey' in trial)), 'a cached trial is listed as a fresh one: later cache keys stay the same');
  });

  it('fails the step when any trial failed, by default, naming the trial; succeeds with minSuccess trials', () => {
    const results: TrialResult[] = [{ outputs: { value: 1 }, cached: false }, { cached: false, error: 'TrainingDivergedError: loss is NaN' }, { outputs: { value: 2 }, cached: false }];
    const select = { metric: 'value', goal: 'min' } as const;
    assert.throws(() => fanIn('sweep', {}, sweepOf(3, { select }), results), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, 'SweepFailedError');
      assert.equal(error.nonRetryable, true);
      assert.equal(error.message, '1 of 3 trials of sweep "sweep" failed, 2 succeeded (needs 3): #1 (lr=1): TrainingDivergedError: loss is NaN');
      return true;
    });
    const { outputs, trials } = fanIn('sweep', {}, sweepOf(3, { select, minSuccess: 2 }), results);
    assert.equal(outputs['value'], 1);
    assert.deepEqual(trials.map((trial) => trial.status), ['succeeded', 'failed', 'succeeded']);
  });

  it('counts a trial without the select metric as failed', () => {
    assert.throws(() => fanIn('sweep', {}, sweepOf(1, { select: { metric: 'value', goal: 'max' } }), [{ outputs: { value: 'high' }, cached: false }]), {
      message: '1 of 1 trials of sweep "sweep" failed, 0 succeeded (needs 1): #0 (lr=0): reported no number for select metric "value"',
    });
  });
});
