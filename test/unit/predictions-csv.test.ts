import assert from 'node:assert/strict';
import { EvaluationError } from '../../common/errors.ts';
import { createRandom } from '../../common/prng.ts';
import { evaluateStep } from '../../common/step-kinds/evaluate.ts';
import { publishStep } from '../../common/step-kinds/publish.ts';
import { checkLabels, parsePredictionsCsv, predictionClasses } from '../../activities/evaluation/predictions-csv.ts';
import { scoredSplitOf } from '../../activities/evaluation/evaluate-predictions.ts';
import { averagePrecision, logLoss, rocAuc } from '../../activities/evaluation/metrics.ts';
import { scoreBinary } from '../../activities/evaluation/scoring.ts';
import { chooseThreshold } from '../../activities/evaluation/threshold.ts';
import { calibrate, fitCalibration } from '../../activities/evaluation/write-evaluation.ts';

const FILE = 'artifacts/abc/predictions.csv';

function rejects(text: string, message: RegExp): void {
  assert.throws(
    () => parsePredictionsCsv(text, FILE),
    (error: unknown) => {
      assert.ok(error instanceof EvaluationError, `expected an EvaluationError, got ${String(error)}`);
      assert.match(error.message, message);
      assert.ok(error.message.includes(FILE), `the message names the file: ${error.message}`);
      return true;
    },
  );
}

describe('predictions CSV parser', () => {
  it('reads id, label and score in any column order, ignoring other columns, a BOM, CRLF and a trailing newline', () => {
    const rows = parsePredictionsCsv('\uFEFFscore,extra,id,label\r\n0.25,x,a,NORMAL\r\n1,y,b,PNEUMONIA\r\n0,z,c,NORMAL\r\n\r\n', FILE);
    assert.deepEqual(rows, [
      { id: 'a', label: 'NORMAL', score: 0.25, line: 2 },
      { id: 'b', label: 'PNEUMONIA', score: 1, line: 3 },
      { id: 'c', label: 'NORMAL', score: 0, line: 4 },
    ]);
  });

  it('refuses an empty file and a header without rows', () => {
    rejects('', new RegExp(`^Read predictions failed: ${FILE}: the file is empty`));
    rejects('\n\n', /the file is empty/);
    rejects('id,label,score\n', /has a header but no rows/);
  });

  it('refuses a header that lacks a column or names one twice, naming line 1', () => {
    rejects('id,label\na,NORMAL\n', new RegExp(`${FILE} line 1: the header 'id,label' lacks column score`));
    rejects('id,class,probability\na,NORMAL,0.5\n', /line 1: .*lacks columns label, score/);
    rejects('id,label,score,id\na,NORMAL,0.5,b\n', /line 1: the header names column 'id' twice/);
  });

  it('refuses a row with a missing or extra field, naming its line', () => {
    rejects('id,label,score\na,NORMAL,0.5\nb,PNEUMONIA\n', new RegExp(`${FILE} line 3: 2 fields, the header has 3`));
    rejects('id,label,score\na,NORMAL,0.5,7\n', /line 2: 4 fields, the header has 3/);
    rejects('id,label,score\n,NORMAL,0.5\n', /line 2: the id is empty/);
    rejects('id,label,score\na,,0.5\n', /line 2: the label is empty/);
  });

  it('refuses a score that is not a number or lies outside [0, 1], naming its line', () => {
    for (const score of ['abc', '', 'NaN', 'Infinity', '0x1', '1/2']) {
      rejects(`id,label,score\na,NORMAL,0.5\nb,NORMAL,${score}\n`, new RegExp(`${FILE} line 3: score '${score.replace(/[/]/g, '\\/')}' is not a number`));
    }
    for (const score of ['1.5', '-0.1', '2e0']) {
      rejects(`id,label,score\na,NORMAL,0.5\nb,NORMAL,${score}\n`, new RegExp(`line 3: score ${score} is outside \\[0, 1\\]`));
    }
  });

  it('refuses a duplicate id, naming both lines', () => {
    rejects('id,label,score\na,NORMAL,0.5\nb,NORMAL,0.4\na,PNEUMONIA,0.9\n', new RegExp(`${FILE} line 4: id 'a' appeared before, on line 2`));
  });

  it('refuses quoted fields and a blank line between rows, naming the line', () => {
    rejects('id,label,score\n"a,1",NORMAL,0.5\n', /line 2: quoted fields are not supported/);
    rejects('id,label,score\na,NORMAL,0.5\n\nb,NORMAL,0.5\n', /line 3: the line is blank/);
  });

  it('refuses an unknown class, naming its line, whether the classes are given or derived', () => {
    const rows = parsePredictionsCsv('id,label,score\na,NORMAL,0.2\nb,PNEUMONIA,0.9\nc,COVID,0.7\n', FILE);
    assert.throws(() => checkLabels(rows, FILE, ['NORMAL', 'PNEUMONIA'], false), new RegExp(`${FILE} line 4: label 'COVID' is not one of the classes \\[NORMAL, PNEUMONIA\\]$`));
    const derived = predictionClasses(rows, FILE, 'PNEUMONIA', undefined);
    assert.deepEqual(derived, ['NORMAL', 'PNEUMONIA'], 'negative first: the first label other than the positive class');
    assert.throws(() => checkLabels(rows, FILE, derived, true), /line 4: label 'COVID' is not one of the classes \[NORMAL, PNEUMONIA\] \(derived from positiveClass/);
  });

  it('takes the classes as given, and refuses ones that are not two or lack the positive class', () => {
    const rows = parsePredictionsCsv('id,label,score\na,0,0.2\nb,1,0.9\n', FILE);
    assert.deepEqual(predictionClasses(rows, FILE, '1', ['1', '0']), ['1', '0']);
    assert.throws(() => predictionClasses(rows, FILE, '1', ['0', '1', '2']), /classes lists 3 classes/);
    assert.throws(() => predictionClasses(rows, FILE, 'yes', ['0', '1']), /positiveClass 'yes' is not one of classes \[0, 1\]/);
    assert.throws(() => predictionClasses(rows, FILE, 'PNEUMONIA', undefined), new RegExp(`positiveClass 'PNEUMONIA' is not among the labels of ${FILE} \\(0, 1\\)`));
  });
});

describe('metrics from a predictions CSV', () => {
  // Seeded scores: positives score higher on average, with overlap so no metric is trivial.
  const random = createRandom('predictions-csv', 23);
  const examples = Array.from({ length: 120 }, (_, i) => {
    const positive = random() < 0.4;
    return { id: `x${i}`, positive, score: Math.min(1, Math.max(0, (positive ? 0.62 : 0.38) + (random() - 0.5) * 0.7)) };
  });
  const csv = ['label,score,id', ...examples.map((e) => `${e.positive ? 'sick' : 'healthy'},${e.score},${e.id}`)].join('\n');
  const labels = examples.map((e) => (e.positive ? 1 : 0));
  const scores = examples.map((e) => e.score);

  it('are the metrics of the same scores scored directly, at a fixed and at a calibrated, chosen threshold', () => {
    const rows = parsePredictionsCsv(csv, FILE);
    const classes = predictionClasses(rows, FILE, 'sick', undefined);
    assert.deepEqual(classes, ['healthy', 'sick']);
    const fromCsv = scoredSplitOf(rows, 'test', 'sick');
    const direct = { split: 'test' as const, labels, scores };
    assert.deepEqual({ labels: fromCsv.examples.map((e) => (e.positive ? 1 : 0)), scores: fromCsv.examples.map((e) => e.score) }, { labels, scores }, 'every score survives the text round trip exactly');

    const csvScores = { split: 'test' as const, labels: fromCsv.examples.map((e) => (e.positive ? 1 : 0)), scores: fromCsv.examples.map((e) => e.score) };
    const fixed = { value: 0.5, method: 'fixed' as const };
    assert.deepEqual(scoreBinary(csvScores, classes, 1, fixed), scoreBinary(direct, classes, 1, fixed));
    const headline = scoreBinary(csvScores, classes, 1, fixed).headline;
    assert.equal(headline.auc, rocAuc(labels, scores));
    assert.equal(headline.prAuc, averagePrecision(labels, scores));
    assert.equal(headline.logLoss, logLoss(labels, scores));

    // Calibration and threshold on a validation CSV are those of the same scores.
    const validation = scoredSplitOf(rows, 'val', 'sick');
    const valScores = { split: 'val' as const, labels: validation.examples.map((e) => (e.positive ? 1 : 0)), scores: validation.examples.map((e) => e.score) };
    const platt = fitCalibration(valScores);
    assert.deepEqual(platt, fitCalibration({ split: 'val', labels, scores }));
    const calibrated = scores.map((s) => calibrate(platt, s));
    const chosen = chooseThreshold({ ...valScores, scores: valScores.scores.map((s) => calibrate(platt, s)) }, { criterion: 'youden' }, 'calibrated');
    assert.deepEqual(chosen, chooseThreshold({ split: 'val', labels, scores: calibrated }, { criterion: 'youden' }, 'calibrated'));
  });
});

describe('evaluate inputs: a model or predictions', () => {
  const issues = (value: Record<string, unknown>) => {
    const parsed = evaluateStep.input.safeParse(value);
    return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  };

  it('accepts predictions alone with a fixed threshold, and with valPredictions for auto and platt', () => {
    assert.deepEqual(issues({ predictions: 'p.csv', threshold: 0.4, positiveClass: 'sick' }), []);
    assert.deepEqual(issues({ predictions: 'p.csv', valPredictions: 'v.csv', threshold: 'auto', calibration: 'platt' }), []);
    assert.deepEqual(issues({ model: 'm/model.json', testManifest: 't.json' }), [], 'a model step as before');
  });

  it('names the field when both, neither, or half of either is given', () => {
    assert.deepEqual(issues({ predictions: 'p.csv', model: 'm', testManifest: 't' }), [
      'model: model goes with a model; predictions are scores made elsewhere: give model + testManifest or predictions, not both',
      'testManifest: testManifest goes with a model; predictions are scores made elsewhere: give model + testManifest or predictions, not both',
    ]);
    assert.deepEqual(issues({ predictions: 'p.csv', featureEngine: 'tfjs' }).map((i) => i.split(':')[0]), ['featureEngine']);
    assert.deepEqual(issues({}), ['model: evaluate needs model + testManifest (a trained model and its test split) or predictions (a CSV of id,label,score)']);
    assert.deepEqual(issues({ model: 'm' }), ['testManifest: model needs testManifest (the split manifest of the test images)']);
    assert.deepEqual(issues({ valPredictions: 'v.csv', threshold: 0.5 }), ['predictions: valPredictions needs predictions (the test predictions CSV)']);
  });

  it('asks for valPredictions, not valManifest, when predictions choose the threshold or calibrate on validation', () => {
    assert.deepEqual(issues({ predictions: 'p.csv', threshold: 'auto' }), ['valPredictions: threshold: auto needs valPredictions (the threshold is chosen on validation)']);
    assert.deepEqual(issues({ predictions: 'p.csv', threshold: 0.5, calibration: 'platt' }), ['valPredictions: calibration: platt needs valPredictions (fitted on validation)']);
    assert.deepEqual(issues({ model: 'm', testManifest: 't', threshold: 'auto' }), ['valManifest: threshold: auto needs valManifest (the threshold is chosen on validation)']);
  });
});

describe('steps written before predictions and publish formats', () => {
  // The cache key hashes the parsed `with` (defaults applied): a new field with a default would
  // change the key of every existing step, and rerun it.
  it('parse to the same inputs, so their cache keys stay', () => {
    const evaluate = evaluateStep.input.parse({ model: 'm/model.json', testManifest: 't.json', valManifest: 'v.json', threshold: 'auto' });
    assert.deepEqual(['predictions', 'valPredictions'].filter((field) => field in evaluate), []);
    const publish = publishStep.input.parse({ name: 'm', model: 'm/model.json', metrics: { auc: 0.9 } });
    assert.deepEqual(['format', 'code'].filter((field) => field in publish), []);
  });
});
