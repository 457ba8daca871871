import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { createRandom } from '../../common/prng.ts';
import { applyPlatt } from '../../activities/evaluation/calibration.ts';
import { AUTO_DEFAULT_THRESHOLD, autoForTestPrior, bootstrapComparison, GUARD_RESAMPLES, GUARD_SEED, guardedAutoThreshold, percentile, resolveThreshold } from '../../activities/evaluation/guarded-threshold.ts';
import { estimatePrevalence, priorAdjustedCut, priorShift } from '../../activities/evaluation/prior-shift.ts';

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
  priorAdjustment: z.array(
    z.object({
      name: z.string(),
      validationPrior: z.number(),
      platt: z.object({ a: z.number(), b: z.number() }),
      scores: z.array(z.number()),
      truePrevalence: z.number(),
      expected: z.object({ estimated: z.number(), calibratedThreshold: z.number(), threshold: z.number(), predicted: z.array(z.number()) }),
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
      assert.ok(choice.guard);
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

  // auto's guarded choice for the prior-adjustment cases: any will do, the cut does not depend on it.
  const guardedFixture = fixtures.decision[0];
  const guarded = guardedFixture ? guardedAutoThreshold({ split: 'val', labels: guardedFixture.labels, scores: guardedFixture.scores }) : undefined;

  for (const fixture of fixtures.priorAdjustment) {
    it(`re-targets auto to the estimated test prior, the Bayes cut of the re-weighted posterior: ${fixture.name}`, () => {
      assert.ok(guarded);
      const calibrated = fixture.scores.map((p) => applyPlatt(fixture.platt, p));
      const shift = priorShift(calibrated, fixture.validationPrior, { margin: 0.1, positiveClass: 'PNEUMONIA', posteriors: 'calibrated' });
      close(shift.estimated, fixture.expected.estimated, 'estimated prior', 1e-7);
      assert.ok(shift.warning, `the fixture's shift (${shift.estimated} against ${fixture.validationPrior}) is past the margin`);
      const choice = autoForTestPrior(guarded, shift, fixture.platt);
      assert.equal(choice.method, 'prior-adjusted');
      assert.ok(choice.method === 'prior-adjusted');
      assert.equal(choice.scale, 'raw', "the cut is stated on the model's own probability, as every auto threshold is");
      close(choice.prior.calibratedThreshold, fixture.expected.calibratedThreshold, 'cut on the calibrated probability', 1e-9);
      close(choice.value, fixture.expected.threshold, "cut on the model's own probability", 1e-9);
      // The cut on the model's own probability makes numpy's per-example decision on the re-weighted posterior.
      const predicted = fixture.scores.map((p) => (p >= choice.value ? 1 : 0));
      assert.deepEqual(predicted, fixture.expected.predicted);
      assert.equal(choice.prior.guardedThreshold, guarded.value, 'what the guarded rule alone chose travels with the decision');
      assert.equal(choice.prior.guardedMethod, guarded.method);
      assert.deepEqual(choice.guard, guarded.guard);
    });
  }

  it('keeps the guarded choice without a shift warning, on uncalibrated posteriors, and for any threshold but auto', () => {
    assert.ok(guarded);
    const platt = { a: 1, b: 0 };
    const near = { validation: 0.74, estimated: 0.7, posteriors: 'calibrated' as const };
    assert.equal(autoForTestPrior(guarded, near, platt), guarded);
    const far = { ...near, estimated: 0.4, warning: 'class prior shift' };
    assert.equal(autoForTestPrior(guarded, { ...far, posteriors: 'raw' }, platt), guarded, 'EM on uncalibrated probabilities does not move the decision');
    assert.equal(autoForTestPrior(guarded, far, undefined), guarded);
    assert.equal(autoForTestPrior(guarded, undefined, platt), guarded);
    const fixed = { value: 0.3, method: 'fixed' as const };
    assert.equal(autoForTestPrior(fixed, far, platt), fixed);
    assert.equal(autoForTestPrior(guarded, far, platt).method, 'prior-adjusted');
  });

  it('keeps the guarded cut on a shifted test prior with adaptThresholdToShift: false, carrying the cut it declined', () => {
    assert.ok(guarded);
    const platt = { a: 1.3, b: -0.2 };
    const far = { validation: 0.74, estimated: 0.4, warning: 'class prior shift', posteriors: 'calibrated' as const };
    const adjusted = autoForTestPrior(guarded, far, platt);
    const kept = autoForTestPrior(guarded, far, platt, false);
    assert.ok(adjusted.method === 'prior-adjusted');
    assert.equal(kept.method, guarded.method);
    assert.equal(kept.value, guarded.value);
    assert.deepEqual(kept.prior, { ...adjusted.prior, applied: false }, 'the same adjustment, marked as not applied');
    assert.equal(kept.prior.thresholdOnModelScale, adjusted.value);
    assert.equal(autoForTestPrior(guarded, { ...far, estimated: 0.7, warning: undefined }, platt, false), guarded, 'no shift: nothing declined');
  });

  it('cuts the calibrated probability at 0.5 when the prior does not move, lower when positives become commoner, and refuses priors of 0 or 1', () => {
    close(priorAdjustedCut(0.74, 0.74), 0.5, 'no shift');
    assert.ok(priorAdjustedCut(0.74, 0.9) < 0.5);
    assert.ok(priorAdjustedCut(0.74, 0.4) > 0.5);
    assert.throws(() => priorAdjustedCut(0.74, 1), /toPrior strictly between 0 and 1/);
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
