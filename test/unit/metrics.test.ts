import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { EvaluationError } from '../../common/errors.ts';
import {
  accuracy,
  averagePrecision,
  classificationReport,
  confusionMatrix,
  logLoss,
  predictAtThreshold,
  rocAuc,
  rocCurve,
  sensitivitySpecificity,
  type ClassificationReport,
} from '../../activities/evaluation/metrics.ts';
import { resolveThreshold } from '../../activities/evaluation/guarded-threshold.ts';
import { chooseThreshold, youdenThreshold } from '../../activities/evaluation/threshold.ts';

const scoresSchema = z.object({ precision: z.number(), recall: z.number(), f1: z.number(), support: z.number() });
const reportSchema = z.object({
  classes: z.array(scoresSchema.extend({ name: z.string() })),
  accuracy: z.number(),
  macroAvg: scoresSchema,
  weightedAvg: scoresSchema,
});
const fixturesSchema = z.object({
  sklearnVersion: z.string(),
  binary: z.array(
    z.object({
      name: z.string(),
      labels: z.array(z.number()),
      scores: z.array(z.number()),
      threshold: z.number(),
      expected: z.object({
        accuracy: z.number(),
        confusionMatrix: z.array(z.array(z.number())),
        report: reportSchema,
        rocAuc: z.number(),
        averagePrecision: z.number(),
        logLoss: z.number(),
        roc: z.object({ fpr: z.array(z.number()), tpr: z.array(z.number()), thresholds: z.array(z.number().nullable()) }),
        youden: z.object({ threshold: z.number(), j: z.number() }),
      }),
    }),
  ),
  multiclass: z.array(
    z.object({
      name: z.string(),
      labels: z.array(z.number()),
      predicted: z.array(z.number()),
      classNames: z.array(z.string()),
      expected: z.object({ accuracy: z.number(), confusionMatrix: z.array(z.array(z.number())), report: reportSchema }),
    }),
  ),
});
const fixtures = fixturesSchema.parse(JSON.parse(readFileSync(new URL('../fixtures/metrics/sklearn-metrics.json', import.meta.url), 'utf8')));

function close(actual: number, expected: number, what: string, tolerance = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: expected ${expected}, got ${actual}`);
}

function assertReport(actual: ClassificationReport, expected: z.infer<typeof reportSchema>, where: string): void {
  assert.deepEqual(actual.classes.map((c) => [c.name, c.support]), expected.classes.map((c) => [c.name, c.support]), where);
  for (const [i, expectedClass] of expected.classes.entries()) {
    const actualClass = actual.classes[i];
    assert.ok(actualClass);
    for (const key of ['precision', 'recall', 'f1'] as const) close(actualClass[key], expectedClass[key], `${where} ${expectedClass.name} ${key}`);
  }
  close(actual.accuracy, expected.accuracy, `${where} accuracy`);
  for (const average of ['macroAvg', 'weightedAvg'] as const) {
    for (const key of ['precision', 'recall', 'f1'] as const) close(actual[average][key], expected[average][key], `${where} ${average} ${key}`);
    assert.equal(actual[average].support, expected[average].support);
  }
}

// Hand-computed: 4 positives, 4 negatives; tied scores 0.4 and 0.6 each pair a positive with a negative.
const handLabels = [0, 0, 1, 1, 0, 1, 1, 0];
const handScores = [0.1, 0.4, 0.4, 0.8, 0.6, 0.6, 0.9, 0.2];

describe('metrics on hand-computed examples', () => {
  it('counts ROC AUC ties as half a correctly ranked pair (14 of 16 pairs)', () => {
    assert.equal(rocAuc(handLabels, handScores), 14 / 16);
  });

  it('sums recall steps times precision for average precision, without interpolation', () => {
    // Steps at 0.9, 0.8, 0.6, 0.4: recall +0.25 each, precision 1, 1, 3/4, 4/6.
    close(averagePrecision(handLabels, handScores), 0.25 * (1 + 1 + 3 / 4 + 4 / 6), 'AP');
  });

  it('puts true classes in rows and predicted classes in columns, predicting positive at or above the threshold', () => {
    const predicted = predictAtThreshold(handScores, 0.6);
    assert.deepEqual(predicted, [0, 0, 0, 1, 1, 1, 1, 0]);
    assert.deepEqual(confusionMatrix(handLabels, predicted, 2), [[3, 1], [1, 3]]);
    assert.equal(accuracy(handLabels, predicted), 0.75);
    assert.deepEqual(sensitivitySpecificity(handLabels, predicted), { sensitivity: 0.75, specificity: 0.75 });
  });

  it('reports precision 0 for a class that is never predicted (sklearn zero_division)', () => {
    const report = classificationReport([0, 1, 1], [0, 0, 0], ['a', 'b']);
    assert.deepEqual(report.classes[1], { name: 'b', precision: 0, recall: 0, f1: 0, support: 2 });
    close(report.classes[0]?.precision ?? NaN, 1 / 3, 'precision of a');
  });

  it('computes log loss as mean binary cross-entropy of the positive-class probability', () => {
    close(logLoss([1, 0], [0.8, 0.3]), -(Math.log(0.8) + Math.log(0.7)) / 2, 'log loss');
    assert.ok(Number.isFinite(logLoss([1, 0], [0, 1])), 'clipped, not infinite');
  });

  it('refuses ranking metrics when a class is missing and mismatched lengths', () => {
    assert.throws(() => rocAuc([1, 1], [0.2, 0.3]), /ROC curve needs both classes: 2 positives, 0 negatives/);
    assert.throws(() => accuracy([1, 0], [1]), /1 predictions, 2 labels/);
    assert.throws(() => rocAuc([0, 2], [0.2, 0.3]), /binary labels/);
  });
});

describe('threshold choice', () => {
  it("the argmax reference picks the highest threshold that maximizes Youden's J on the validation split", () => {
    // J = 0.25, 0.5, 0.5, 0.5 at 0.9, 0.8, 0.6, 0.4: the first maximum wins, as argmax does.
    const choice = youdenThreshold({ split: 'val', labels: handLabels, scores: handScores });
    assert.deepEqual(choice, { value: 0.8, youdenJ: 0.5, tpr: 0.5, fpr: 0 });
  });

  it('refuses scores from the test or train split', () => {
    for (const split of ['test', 'train'] as const) {
      assert.throws(
        () => youdenThreshold({ split, labels: handLabels, scores: handScores }),
        (error: unknown) => error instanceof EvaluationError && error.message.includes(`not '${split}'`),
      );
    }
  });

  it('reads no validation data for a fixed threshold and reads it once for auto', async () => {
    let reads = 0;
    const validation = async () => {
      reads++;
      return { split: 'val' as const, labels: handLabels, scores: handScores };
    };
    assert.deepEqual(await resolveThreshold(0.6, validation), { value: 0.6, method: 'fixed' });
    assert.equal(reads, 0);
    // J is within one image (1/4) of its best 0.5 from 0.9 down to 0.2: thresholds in (0.1, 0.9],
    // middle 0.5, which is auto's default too: no resample can prefer it, so auto keeps 0.5.
    const auto = await resolveThreshold('auto', validation);
    assert.equal(auto.method, 'default');
    assert.equal(auto.value, 0.5);
    assert.equal(auto.method === 'default' ? auto.guard.challengerThreshold : NaN, 0.5);
    assert.equal(auto.method === 'default' ? auto.guard.wins : NaN, 0);
    assert.equal(reads, 1);
  });
});

describe(`metrics against scikit-learn ${fixtures.sklearnVersion} (test/fixtures/metrics)`, () => {
  for (const fixture of fixtures.binary) {
    it(`matches accuracy, report, confusion matrix, ROC and PR AUC, log loss and Youden threshold: ${fixture.name}`, () => {
      const { labels, scores, threshold, expected } = fixture;
      const predicted = predictAtThreshold(scores, threshold);
      close(accuracy(labels, predicted), expected.accuracy, 'accuracy');
      assert.deepEqual(confusionMatrix(labels, predicted, 2), expected.confusionMatrix);
      assertReport(classificationReport(labels, predicted, ['NORMAL', 'PNEUMONIA']), expected.report, fixture.name);
      close(rocAuc(labels, scores), expected.rocAuc, 'ROC AUC');
      close(averagePrecision(labels, scores), expected.averagePrecision, 'average precision');
      close(logLoss(labels, scores), expected.logLoss, 'log loss', 1e-12);
      const curve = rocCurve(labels, scores);
      assert.equal(curve.length, expected.roc.fpr.length);
      for (const [k, point] of curve.entries()) {
        close(point.fpr, expected.roc.fpr[k] ?? NaN, `fpr[${k}]`);
        close(point.tpr, expected.roc.tpr[k] ?? NaN, `tpr[${k}]`);
        assert.equal(point.threshold, expected.roc.thresholds[k] ?? Infinity);
      }
      const youden = youdenThreshold({ split: 'val', labels, scores });
      assert.equal(youden.value, expected.youden.threshold);
      // The interval auto reports holds sklearn's argmax threshold and its J is the best.
      const auto = chooseThreshold({ split: 'val', labels, scores }, { criterion: 'youden', tolerance: 0 }, 'raw');
      close(auto.best, expected.youden.j, 'best J');
      assert.ok(auto.interval.low < expected.youden.threshold && expected.youden.threshold <= auto.interval.high, `${expected.youden.threshold} in (${auto.interval.low}, ${auto.interval.high}]`);
      close(youden.youdenJ, expected.youden.j, 'J');
    });
  }

  for (const fixture of fixtures.multiclass) {
    it(`matches the classification report and confusion matrix: ${fixture.name}`, () => {
      const { labels, predicted, classNames, expected } = fixture;
      assert.deepEqual(confusionMatrix(labels, predicted, classNames.length), expected.confusionMatrix);
      assertReport(classificationReport(labels, predicted, classNames), expected.report, fixture.name);
    });
  }
});
