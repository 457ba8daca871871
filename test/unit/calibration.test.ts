import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { EvaluationError } from '../../common/errors.ts';
import {
  applyPlatt,
  brierScore,
  CALIBRATION_BINS,
  expectedCalibrationError,
  fitPlatt,
  invertPlatt,
  LOGIT_EPS,
  reliabilityCurve,
} from '../../activities/evaluation/calibration.ts';
import { chooseThreshold, youdenThreshold } from '../../activities/evaluation/threshold.ts';
import { fitCalibration } from '../../activities/evaluation/write-evaluation.ts';
import { evaluateStep } from '../../common/step-kinds/evaluate.ts';

const ruleSchema = z.object({
  criterion: z.enum(['youden', 'f1', 'balanced-accuracy', 'sensitivity']),
  min: z.number().optional(),
  tolerance: z.number(),
});
const fixturesSchema = z.object({
  sklearnVersion: z.string(),
  logitEps: z.number(),
  bins: z.number(),
  platt: z.array(
    z.object({
      name: z.string(),
      valLabels: z.array(z.number()),
      valScores: z.array(z.number()),
      testScores: z.array(z.number()),
      expected: z.object({ a: z.number(), b: z.number(), testCalibrated: z.array(z.number()) }),
    }),
  ),
  reliability: z.array(
    z.object({
      name: z.string(),
      labels: z.array(z.number()),
      scores: z.array(z.number()),
      expected: z.object({
        bins: z.array(z.number()),
        counts: z.array(z.number()),
        fractionPositive: z.array(z.number()),
        meanPredicted: z.array(z.number()),
        ece: z.number(),
        brier: z.number(),
      }),
    }),
  ),
  thresholds: z.array(
    z.object({
      name: z.string(),
      labels: z.array(z.number()),
      scores: z.array(z.number()),
      rule: ruleSchema,
      expected: z.object({ best: z.number(), interval: z.object({ low: z.number(), high: z.number() }), value: z.number() }),
    }),
  ),
});
const fixtures = fixturesSchema.parse(JSON.parse(readFileSync(new URL('../fixtures/metrics/sklearn-calibration.json', import.meta.url), 'utf8')));

function close(actual: number, expected: number, what: string, tolerance = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: expected ${expected}, got ${actual} (off by ${Math.abs(actual - expected)})`);
}

describe(`calibration against scikit-learn ${fixtures.sklearnVersion} (test/fixtures/metrics/sklearn-calibration.json)`, () => {
  it('clips probabilities and bins them as the fixtures were recorded', () => {
    assert.equal(LOGIT_EPS, fixtures.logitEps);
    assert.equal(CALIBRATION_BINS, fixtures.bins);
  });

  for (const fixture of fixtures.platt) {
    it(`fits Platt scaling as CalibratedClassifierCV(method='sigmoid') does: ${fixture.name}`, () => {
      const fitted = fitPlatt(fixture.valLabels, fixture.valScores);
      // sklearn stops L-BFGS at gtol 1e-6; Newton here converges to machine precision.
      close(fitted.a, fixture.expected.a, 'a', 1e-5 * (1 + Math.abs(fixture.expected.a)));
      close(fitted.b, fixture.expected.b, 'b', 1e-5 * (1 + Math.abs(fixture.expected.b)));
      fixture.testScores.forEach((score, i) => close(applyPlatt(fitted, score), fixture.expected.testCalibrated[i] ?? NaN, `calibrated test ${i}`, 1e-6));
      assert.deepEqual(fitPlatt(fixture.valLabels, fixture.valScores), fitted, 'the same validation scores give bit-identical parameters');
    });
  }

  for (const fixture of fixtures.reliability) {
    it(`matches calibration_curve, brier_score_loss and the ECE of its bins: ${fixture.name}`, () => {
      const curve = reliabilityCurve(fixture.labels, fixture.scores);
      assert.deepEqual(curve.map((b) => b.bin), fixture.expected.bins);
      assert.deepEqual(curve.map((b) => b.count), fixture.expected.counts);
      curve.forEach((b, i) => {
        close(b.fractionPositive, fixture.expected.fractionPositive[i] ?? NaN, `fraction positive ${i}`);
        close(b.meanPredicted, fixture.expected.meanPredicted[i] ?? NaN, `mean predicted ${i}`);
      });
      close(expectedCalibrationError(fixture.labels, fixture.scores), fixture.expected.ece, 'ECE');
      close(brierScore(fixture.labels, fixture.scores), fixture.expected.brier, 'Brier');
    });
  }

  for (const fixture of fixtures.thresholds) {
    it(`chooses the middle of the equally good interval, criterion values from sklearn: ${fixture.name}`, () => {
      const choice = chooseThreshold({ split: 'val', labels: fixture.labels, scores: fixture.scores }, fixture.rule, 'raw');
      assert.equal(choice.method, fixture.rule.criterion);
      close(choice.best, fixture.expected.best, 'best');
      assert.deepEqual(choice.interval, fixture.expected.interval);
      close(choice.value, fixture.expected.value, 'threshold');
      assert.ok(choice.score >= choice.best - fixture.rule.tolerance - 1e-12, `score ${choice.score} within the tolerance of ${choice.best}`);
      if (fixture.rule.min !== undefined) assert.ok(choice.tpr >= fixture.rule.min, `sensitivity ${choice.tpr} ≥ ${fixture.rule.min}`);
    });
  }
});

describe('threshold on a flat validation optimum', () => {
  // Negatives score 0.02–0.12, positives 0.70–0.99: every threshold in (0.12, 0.70] separates them.
  const labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
  const scores = [0.02, 0.03, 0.05, 0.08, 0.1, 0.12, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99];

  it("no longer picks the edge of the optimum (argmax's lowest positive score) but the middle of the interval", () => {
    assert.equal(youdenThreshold({ split: 'val', labels, scores }).value, 0.7, 'argmax lands on the edge');
    for (const criterion of ['youden', 'f1', 'balanced-accuracy'] as const) {
      const choice = chooseThreshold({ split: 'val', labels, scores }, { criterion, tolerance: 0 }, 'raw');
      assert.deepEqual(choice.interval, { low: 0.12, high: 0.7 }, criterion);
      close(choice.value, 0.41, `${criterion} threshold`);
      assert.deepEqual([choice.tpr, choice.fpr], [1, 0]);
    }
  });

  it('with calibrated scores, the middle is taken on the calibrated scale and still separates the validation classes', () => {
    const platt = fitPlatt(labels, scores);
    const calibrated = scores.map((s) => applyPlatt(platt, s));
    const choice = chooseThreshold({ split: 'val', labels, scores: calibrated }, { criterion: 'youden', tolerance: 0 }, 'calibrated');
    const low = applyPlatt(platt, 0.12);
    const high = applyPlatt(platt, 0.7);
    close(choice.interval.low, low, 'low');
    close(choice.interval.high, high, 'high');
    close(choice.value, (low + high) / 2, 'middle');
    assert.ok(choice.value > low && choice.value < high);
    const raw = invertPlatt(platt, choice.value);
    assert.ok(raw > 0.12 && raw < 0.7, `on the model's scale the threshold ${raw} is inside (0.12, 0.7) too`);
    assert.equal(choice.scale, 'calibrated');
  });

  it('counts operating points within one validation mistake of the best as equally good by default', () => {
    // One positive (0.3) below a negative (0.4): J = 0.8 at 0.5 and 0.8 at 0.3; one mistake costs 0.2.
    const l = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1];
    const s = [0.05, 0.1, 0.15, 0.2, 0.4, 0.3, 0.5, 0.6, 0.8, 0.9];
    const choice = chooseThreshold({ split: 'val', labels: l, scores: s }, { criterion: 'youden' }, 'raw');
    close(choice.tolerance, 0.2, 'one-image tolerance');
    close(choice.best, 0.8, 'best J');
    assert.ok(choice.value > choice.interval.low && choice.value < choice.interval.high);
    assert.ok(choice.interval.high - choice.interval.low > 0.5 - 0.4, 'wider than the argmax step alone');
  });
});

describe('threshold rules and calibration refuse what they cannot do', () => {
  const labels = [0, 0, 1, 1];
  const scores = [0.1, 0.4, 0.35, 0.8];

  it('chooses and calibrates on the validation split only', () => {
    for (const split of ['test', 'train'] as const) {
      assert.throws(() => chooseThreshold({ split, labels, scores }, { criterion: 'youden' }, 'raw'), (e: unknown) => e instanceof EvaluationError && e.message.includes(`not '${split}'`));
      assert.throws(() => fitCalibration({ split, labels, scores }), (e: unknown) => e instanceof EvaluationError && e.message.includes(`not '${split}'`));
    }
  });

  it('names the unreachable sensitivity floor, a missing class and an inverted model', () => {
    assert.throws(() => chooseThreshold({ split: 'val', labels: [1, 1], scores: [0.2, 0.4] }, { criterion: 'f1' }, 'raw'), /needs both classes, but has 2 positives and 0 negatives/);
    assert.throws(() => fitCalibration({ split: 'val', labels: [0, 0], scores: [0.2, 0.4] }), /needs both classes/);
    assert.throws(() => fitCalibration({ split: 'val', labels: [1, 1, 0, 0], scores: [0.1, 0.2, 0.8, 0.9] }), /slope -?[0-9.]+ ≤ 0 .*calibration: none/);
    // Sensitivity 1 is always reachable (threshold 0); the floor is checked against real points.
    const choice = chooseThreshold({ split: 'val', labels, scores }, { criterion: 'sensitivity', min: 1 }, 'raw');
    assert.equal(choice.tpr, 1);
    assert.equal(choice.minSensitivity, 1);
  });

  it('validates the threshold and calibration fields, naming them', () => {
    const parse = (extra: Record<string, unknown>) => evaluateStep.input.safeParse({ model: 'runs/m', testManifest: 'runs/t.json', valManifest: 'runs/v.json', ...extra });
    const issue = (extra: Record<string, unknown>) => {
      const result = parse(extra);
      assert.equal(result.success, false, JSON.stringify(extra));
      return result.error?.issues[0];
    };
    assert.deepEqual(issue({ threshold: { criterion: 'youdn' } })?.path, ['threshold']);
    assert.match(issue({ threshold: 'best' })?.message ?? '', /expected a probability in \[0, 1\], 'auto', or \{ criterion: youden \| f1 \| balanced-accuracy \| sensitivity/);
    assert.deepEqual(issue({ threshold: { criterion: 'sensitivity' } }), { code: 'custom', path: ['threshold', 'min'], message: 'criterion: sensitivity needs min (the least sensitivity accepted, e.g. 0.95)' });
    assert.deepEqual(issue({ calibration: 'isotonic' })?.path, ['calibration']);
    assert.deepEqual(issue({ calibration: { method: 'platt', a: -1, b: 0 } })?.path, ['calibration', 'a']);
    const noVal = evaluateStep.input.safeParse({ model: 'runs/m', testManifest: 'runs/t.json', threshold: { criterion: 'f1' } });
    assert.equal(noVal.error?.issues[0]?.message, 'threshold: { criterion: f1 } needs valManifest (the threshold is chosen on validation)');
    const plattNoVal = evaluateStep.input.safeParse({ model: 'runs/m', testManifest: 'runs/t.json', threshold: 0.5, calibration: 'platt' });
    assert.equal(plattNoVal.error?.issues[0]?.message, 'calibration: platt needs valManifest (fitted on validation)');
    assert.deepEqual(parse({ threshold: { criterion: 'youden', min: 0.9 }, calibration: { method: 'platt', a: 0.5, b: 1 } }).data?.threshold, { criterion: 'youden', min: 0.9 });
    // Issue 27: a rule may ask for the calibrated scale, which needs calibration; the shift margin is a share.
    assert.deepEqual(issue({ threshold: { criterion: 'youden', scale: 'calibrated' }, calibration: 'none' }), {
      code: 'custom',
      path: ['threshold', 'scale'],
      message: 'scale: calibrated needs calibration (platt, or { method: platt, a, b }), but calibration is none',
    });
    assert.deepEqual(issue({ threshold: { criterion: 'youden', scale: 'logit' } })?.path, ['threshold']);
    assert.deepEqual(parse({ threshold: { criterion: 'youden', scale: 'calibrated' } }).data?.threshold, { criterion: 'youden', scale: 'calibrated' });
    assert.deepEqual(issue({ threshold: 'auto', shiftMargin: 1.5 })?.path, ['shiftMargin']);
    assert.equal(parse({ threshold: 'auto' }).data?.shiftMargin, undefined, 'no default written into the step: old cache keys hold');
    // adaptThresholdToShift steers auto only: with any other threshold it would silently do nothing.
    const message = (threshold: string) =>
      `adaptThresholdToShift applies only to threshold: auto (the only threshold re-targeted to a shifted test prior), but threshold is ${threshold}: remove adaptThresholdToShift or use threshold: auto`;
    assert.deepEqual(issue({ threshold: 0.4, adaptThresholdToShift: false }), { code: 'custom', path: ['adaptThresholdToShift'], message: message('0.4') });
    assert.deepEqual(issue({ threshold: { criterion: 'f1' }, adaptThresholdToShift: true }), { code: 'custom', path: ['adaptThresholdToShift'], message: message('{ criterion: f1 }') });
    assert.deepEqual(issue({ adaptThresholdToShift: false })?.path, ['adaptThresholdToShift'], 'the default threshold is the number 0.5');
    assert.deepEqual(issue({ threshold: 'auto', adaptThresholdToShift: 'no' })?.path, ['adaptThresholdToShift']);
    assert.equal(parse({ threshold: 'auto', adaptThresholdToShift: false }).data?.adaptThresholdToShift, false);
    assert.equal(parse({ threshold: 'auto' }).data?.adaptThresholdToShift, undefined, 'no default written into the step: old cache keys hold');
  });
});
