import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { createRandom } from '../../common/prng.ts';
import { AUTO_DEFAULT_THRESHOLD, bootstrapComparison, GUARD_RESAMPLES, GUARD_SEED, guardedAutoThreshold, percentile, resolveThreshold } from '../../activities/evaluation/guarded-threshold.ts';
import { estimatePrevalence, priorShift } from '../../activities/evaluation/prior-shift.ts';

const interval = z.object({ low: z.number(), high: z.number() });
const bootstrapExpected = z.object({ wins: z.number(), skipped: z.number(), winRate: z.number(), defaultInterval: interval, challengerInterval: interval });
const fixturesSchema = z.object({
  numpyVersion: z.string(),
  prngFirstDraws: z.object({ seed: z.string(), draws: z.array(z.number()) }),
  prevalence: z.array(z.object({ name: z.string(), trainingPrior: z.number(), posteriors: z.array(z.number()), truePrevalence: z.number(), expected: z.number() })),
  comparison: z.array(
    z.object({
      name: z.string(),
      labels: z.array(z.number()),
      scores: z.array(z.number()),
      criterion: z.enum(['youden', 'balanced-accuracy', 'f1']),
      defaultThreshold: z.number(),
      challengerThreshold: z.number(),
      seed: z.string(),
      resamples: z.number(),
      expected: bootstrapExpected,
    }),
  ),
  decision: z.array(
    z.object({
      name: z.string(),
      labels: z.array(z.number()),
      scores: z.array(z.number()),
      expected: bootstrapExpected.extend({ challengerThreshold: z.number(), moved: z.boolean(), threshold: z.number() }),
    }),
  ),
});
const fixtures = fixturesSchema.parse(JSON.parse(readFileSync(new URL('../fixtures/metrics/shift-fixtures.json', import.meta.url), 'utf8')));

function close(actual: number, expected: number, what: string, tolerance = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: expected ${expected}, got ${actual} (off by ${Math.abs(actual - expected)})`);
}

describe(`prior shift and auto's bootstrap guard against numpy ${fixtures.numpyVersion} (test/fixtures/metrics/shift-fixtures.json)`, () => {
  it("draws the bootstrap's resamples from the PRNG sequence the numpy script reproduces", () => {
    const random = createRandom(fixtures.prngFirstDraws.seed);
    assert.equal(fixtures.prngFirstDraws.seed, GUARD_SEED);
    for (const [i, draw] of fixtures.prngFirstDraws.draws.entries()) assert.equal(random(), draw, `draw ${i}`);
  });

  for (const fixture of fixtures.prevalence) {
    it(`estimates the positive share from the scores alone as the maximum-likelihood prior: ${fixture.name}`, () => {
      const estimate = estimatePrevalence(fixture.posteriors, fixture.trainingPrior);
      assert.ok(estimate.converged, `converged in ${estimate.iterations} iterations`);
      close(estimate.prevalence, fixture.expected, 'prevalence', 1e-7);
    });
  }

  it('estimates the shifted share of the larger simulated splits within 0.05 of the labels, and warns only past the margin', () => {
    for (const fixture of fixtures.prevalence.filter((f) => f.posteriors.length >= 250)) {
      const shift = priorShift(fixture.posteriors, fixture.trainingPrior, { margin: 0.1, actual: fixture.truePrevalence, positiveClass: 'PNEUMONIA', posteriors: 'calibrated' });
      assert.ok(Math.abs(shift.estimated - fixture.truePrevalence) <= 0.05, `${fixture.name}: ${shift.estimated} vs ${fixture.truePrevalence}`);
      const shifted = Math.abs(shift.estimated - fixture.trainingPrior) > 0.1;
      assert.equal(shift.warning !== undefined, shifted, fixture.name);
      if (shift.warning) assert.match(shift.warning, /class prior shift: the scored split looks \d+\.\d % PNEUMONIA/);
    }
  });

  it('refuses a training prior of 0 or 1 and scores outside [0, 1]', () => {
    assert.throws(() => estimatePrevalence([0.2], 1), /strictly between 0 and 1/);
    assert.throws(() => estimatePrevalence([1.2], 0.5), /probabilities in \[0, 1\]: got 1.2 at 0/);
  });

  it('interpolates percentiles as numpy does', () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
    close(percentile([0, 10], 2.5), 0.25, 'p2.5');
    assert.equal(percentile([7], 97.5), 7);
  });

  for (const fixture of fixtures.comparison) {
    it(`compares two thresholds over seeded bootstrap resamples: ${fixture.name}`, () => {
      const result = bootstrapComparison({ split: 'val', labels: fixture.labels, scores: fixture.scores }, fixture.criterion, fixture.defaultThreshold, fixture.challengerThreshold, {
        seed: fixture.seed,
        resamples: fixture.resamples,
      });
      assert.equal(result.wins, fixture.expected.wins);
      assert.equal(result.skipped, fixture.expected.skipped);
      close(result.winRate, fixture.expected.winRate, 'win rate');
      close(result.defaultInterval.low, fixture.expected.defaultInterval.low, 'default 2.5 %', 1e-9);
      close(result.defaultInterval.high, fixture.expected.defaultInterval.high, 'default 97.5 %', 1e-9);
      close(result.challengerInterval.low, fixture.expected.challengerInterval.low, 'challenger 2.5 %', 1e-9);
      close(result.challengerInterval.high, fixture.expected.challengerInterval.high, 'challenger 97.5 %', 1e-9);
    });
  }

  for (const fixture of fixtures.decision) {
    it(`auto keeps 0.5 unless Youden's best wins at least 95 % of ${GUARD_RESAMPLES} resamples: ${fixture.name}`, () => {
      const choice = guardedAutoThreshold({ split: 'val', labels: fixture.labels, scores: fixture.scores });
      assert.ok(choice.method !== 'fixed' && choice.guard);
      const { guard } = choice;
      close(guard.challengerThreshold, fixture.expected.challengerThreshold, 'challenger');
      assert.equal(guard.wins, fixture.expected.wins);
      close(guard.defaultInterval.low, fixture.expected.defaultInterval.low, 'default 2.5 %', 1e-9);
      close(guard.challengerInterval.high, fixture.expected.challengerInterval.high, 'challenger 97.5 %', 1e-9);
      assert.equal(guard.moved, fixture.expected.moved);
      assert.equal(choice.value, fixture.expected.threshold);
      assert.equal(choice.method, fixture.expected.moved ? 'youden' : 'default');
      assert.equal(choice.scale, 'raw', "auto's threshold is on the model's own probability");
    });
  }

  it('the fixtures hold a decision each way, so the guard is tested both ways', () => {
    assert.deepEqual(new Set(fixtures.decision.map((f) => f.expected.moved)), new Set([true, false]));
  });

  it('reads validation once for auto and gives the same decision for the same scores', async () => {
    const fixture = fixtures.decision[0];
    assert.ok(fixture);
    let reads = 0;
    const validation = async () => {
      reads++;
      return { split: 'val' as const, labels: fixture.labels, scores: fixture.scores };
    };
    const first = await resolveThreshold('auto', validation);
    assert.equal(reads, 1);
    assert.deepEqual(await resolveThreshold('auto', validation), first);
    assert.equal(first.value, fixture.expected.threshold);
    assert.equal(AUTO_DEFAULT_THRESHOLD, 0.5);
  });

  it('chooses a criterion on the model probability unless the rule asks for the calibrated one, which needs calibration', async () => {
    const fixture = fixtures.decision[0];
    assert.ok(fixture);
    const validation = async () => ({ split: 'val' as const, labels: fixture.labels, scores: fixture.scores });
    const raw = await resolveThreshold({ criterion: 'youden' }, validation);
    assert.equal(raw.scale, 'raw');
    await assert.rejects(resolveThreshold({ criterion: 'youden', scale: 'calibrated' }, validation), /needs calibration/);
    const calibrated = await resolveThreshold({ criterion: 'youden', scale: 'calibrated' }, validation, { calibrate: (p) => p / 2 });
    assert.equal(calibrated.scale, 'calibrated');
    assert.ok(calibrated.value <= 0.5, 'chosen on the calibrated (halved) scores');
  });
});
