import type { EvaluateOutput } from '../../common/step-kinds/evaluate.ts';
import { applyPlatt, invertPlatt, type CalibrationSummary } from './calibration.ts';
import type { Scorecard } from './scoring.ts';
import type { PriorShift } from './prior-shift.ts';
import type { GuardDecision, PriorAdjustment, ThresholdChoice } from './threshold.ts';

/** Calibration summaries of the model's own probabilities and, when calibrated, the calibrated ones. */
export interface SplitCalibration {
  raw: CalibrationSummary;
  calibrated?: CalibrationSummary;
}

/** What the markdown report describes; plot paths are relative to the report. */
export interface ReportContext {
  pipeline: string;
  workflowId: string;
  stepId: string;
  /** What was scored, after `Run <id>, `: the model and test split, or the predictions file. */
  subject: string;
  /** Paragraphs after the decision rule: what the evaluation left out, and why. */
  notes: readonly string[];
  /** What the examples are called: `{ one: 'image', many: 'images' }`, or rows of a predictions file. */
  unit: ExampleUnit;
  classes: readonly string[];
  positiveClass: string;
  threshold: ThresholdChoice;
  calibration: EvaluateOutput['calibration'];
  calibrationSummaries: { test: SplitCalibration; validation?: SplitCalibration };
  /** The test split's positive share estimated from its scores, against validation's (absent without validation data). */
  priorShift?: PriorShift;
  scorecard: Scorecard;
  plots: Record<string, string>;
}

/** What one example of a split is called in the report, and several. */
export interface ExampleUnit {
  one: string;
  many: string;
}

const f = (value: number): string => value.toFixed(4);

const CRITERION_NAMES: Record<Exclude<ThresholdChoice['method'], 'fixed' | 'default' | 'prior-adjusted'>, string> = {
  youden: "Youden's J",
  f1: 'F1',
  'balanced-accuracy': 'balanced accuracy',
  sensitivity: 'specificity at the sensitivity floor',
};

export function describeThreshold(threshold: ThresholdChoice, unit = 'images'): string {
  const scale = threshold.scale === 'calibrated' ? 'calibrated ' : '';
  if (threshold.method === 'fixed') return `${f(threshold.value)} on the ${scale}probability, fixed in the pipeline`;
  const declined =
    threshold.method !== 'prior-adjusted' && threshold.prior && !threshold.prior.applied
      ? `; not re-targeted to the test split's estimated prior ${f(threshold.prior.estimatedPrevalence)} because \`adaptThresholdToShift: false\` (it would have cut at ${f(threshold.prior.thresholdOnModelScale)}), see below`
      : '';
  if (threshold.method === 'default') return `${f(threshold.value)} on the model's own probability, auto's default, kept after the bootstrap check below${declined}`;
  if (threshold.method === 'prior-adjusted') {
    return (
      `${f(threshold.value)} on the model's own probability (${f(threshold.prior.calibratedThreshold)} on the calibrated probability), ` +
      `auto re-targeted to the test split's estimated prior ${f(threshold.prior.estimatedPrevalence)} from its scores alone (no labels), see below`
    );
  }
  const floor = threshold.minSensitivity === undefined ? '' : ` with sensitivity ≥ ${f(threshold.minSensitivity)}`;
  return (
    `${f(threshold.value)} on the ${scale}probability, chosen on the validation split (${threshold.validationSize} ${unit}) by ${CRITERION_NAMES[threshold.method]}${floor}: ` +
    `every threshold in (${f(threshold.interval.low)}, ${f(threshold.interval.high)}] scored within ${f(threshold.tolerance)} of the best ${f(threshold.best)}, and this is the middle of that interval ` +
    `(validation sensitivity ${f(threshold.tpr)}, false positive rate ${f(threshold.fpr)}); the test split played no part in it` +
    (threshold.guard ? '; auto moved here from its default after the bootstrap check below' : '') +
    declined
  );
}

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;

/**
 * How `auto` decided: the guard's bootstrap, both thresholds and the criterion's 95 % intervals;
 * when the threshold was then re-targeted to the test prior, what the guarded rule alone chose.
 */
export function guardLines(guard: GuardDecision, unit: string, retargeted = false): string[] {
  const name = CRITERION_NAMES[guard.criterion];
  const interval = (i: { low: number; high: number }) => `[${f(i.low)}, ${f(i.high)}]`;
  return [
    '## Threshold decision (auto)',
    '',
    `\`auto\` starts from 0.5 on the model's own probability: the Bayes decision for the class mix the model was trained under (equal priors with balanced class weights, else the training mix). ` +
      `It moves to ${name}'s best validation threshold only if that beats 0.5 by ${name} in at least ${pct(guard.required)} of ${guard.resamples} bootstrap resamples of the validation ${unit} (seed \`${guard.seed}\`).`,
    '',
    `| threshold (model's own probability) | ${name} on validation | 95 % bootstrap interval |`,
    '|---|---|---|',
    `| default ${f(guard.defaultThreshold)} | ${f(guard.defaultScore)} | ${interval(guard.defaultInterval)} |`,
    `| ${name}'s best ${f(guard.challengerThreshold)} | ${f(guard.challengerScore)} | ${interval(guard.challengerInterval)} |`,
    '',
    `Win rate of ${name}'s best over the default: **${pct(guard.winRate)}** (${guard.wins} of ${guard.resamples}${guard.skipped > 0 ? `; ${guard.skipped} resamples lacked a class and count as no win` : ''}). ` +
      (retargeted
        ? `${guard.moved ? `At least ${pct(guard.required)}` : `Below ${pct(guard.required)}`}: the guarded rule alone would cut at ${f(guard.moved ? guard.challengerThreshold : guard.defaultThreshold)}; the class prior shift below moved the decision instead.`
        : guard.moved
          ? `At least ${pct(guard.required)}: the threshold moved to ${f(guard.challengerThreshold)}.`
          : `Below ${pct(guard.required)}: the threshold stays at the default ${f(guard.defaultThreshold)}.`),
    '',
  ];
}

/**
 * How `auto` re-targeted its cut to the test split's estimated prior, and what it would have been
 * without; or, with `adaptThresholdToShift: false`, the cut it would have taken and did not.
 */
export function priorAdjustmentLines(prior: PriorAdjustment, positiveClass: string, unit: string): string[] {
  const from = f(prior.validationPrevalence);
  const to = f(prior.estimatedPrevalence);
  const guarded = `the guarded rule alone (${prior.guardedMethod === 'default' ? 'default' : `${CRITERION_NAMES[prior.guardedMethod]}'s best`})`;
  return [
    prior.applied ? '## Threshold re-targeted to the test prior (auto)' : '## Threshold not re-targeted to the test prior (adaptThresholdToShift: false)',
    '',
    `The test split's share of ${positiveClass}, estimated from the model's scores alone (the class prior shift section), is ${to}; validation's is ${from}. ` +
      (prior.applied
        ? `A cut fitted on validation is right for validation's prior, so \`auto\` takes the Bayes decision for the estimated one (Saerens, Latinne & Decaestecker 2002): `
        : `\`auto\` would take the Bayes decision for the estimated prior (Saerens, Latinne & Decaestecker 2002), but the step sets \`adaptThresholdToShift: false\`, so the threshold stays the guarded rule's, right for validation's class mix and independent of this test split's; the adjustment, for reference: `) +
      `each calibrated probability p is re-weighted from prior ${from} to ${to}, p' = (${to}/${from})·p / ((${to}/${from})·p + (${f(1 - prior.estimatedPrevalence)}/${f(1 - prior.validationPrevalence)})·(1 − p)), ` +
      `and a test ${unit} ${prior.applied ? 'is' : 'would be'} predicted ${positiveClass} when p' ≥ 0.5.`,
    '',
    `| | threshold on the calibrated probability | threshold on the model's own probability |`,
    '|---|---|---|',
    `| prior-adjusted${prior.applied ? ' (used)' : ' (not used)'} | ${f(prior.calibratedThreshold)} | ${f(prior.thresholdOnModelScale)} |`,
    `| ${guarded}${prior.applied ? '' : ' (used)'} | ${f(applyPlatt(prior.calibration, prior.guardedThreshold))} | ${f(prior.guardedThreshold)} |`,
    '',
    (prior.applied
      ? "The threshold used the test split's unlabeled scores (through the estimate), never its labels"
      : "The threshold used nothing of the test split; the adjusted cut would have used its unlabeled scores (through the estimate), never its labels") +
      `; the Platt parameters mapping the two scales, a = ${f(prior.calibration.a)}, b = ${f(prior.calibration.b)}, are the ones the estimate used (fitted on validation unless the step gave them).`,
    '',
  ];
}

/** The test split's positive share from its scores (EM) against validation and the labels, with the warning when shifted. */
export function priorShiftLines(shift: PriorShift, positiveClass: string): string[] {
  return [
    '## Class prior shift',
    '',
    ...(shift.warning ? [`> **Warning:** ${shift.warning}.`, ''] : []),
    `| share of ${positiveClass} | value |`,
    '|---|---|',
    `| validation (labels) | ${f(shift.validation)} |`,
    `| test, estimated from the scores alone | ${f(shift.estimated)} |`,
    ...(shift.actual === undefined ? [] : [`| test (labels, for reference) | ${f(shift.actual)} |`]),
    '',
    `Estimated by EM (Saerens, Latinne & Decaestecker 2002) on the ${shift.posteriors === 'calibrated' ? 'Platt-calibrated probabilities (calibrated to the validation prevalence, the prior EM starts from)' : "model's own probabilities (Platt could not be fitted), with the validation prevalence as their prior"}, ` +
      `${shift.iterations} iterations${shift.converged ? '' : ', not converged'}. A warning is given when the estimate is more than ${f(shift.margin)} from validation (\`shiftMargin\`).`,
    '',
  ];
}

/** The calibrated threshold (and interval) on the model's own probability, where they differ. */
function onModelScale(context: ReportContext): string {
  const { calibration, threshold } = context;
  if (calibration.method !== 'platt' || threshold.scale !== 'calibrated') return '';
  const raw = (p: number) => f(invertPlatt(calibration, p));
  const interval = threshold.method === 'fixed' ? '' : `, equally good interval (${raw(threshold.interval.low)}, ${raw(threshold.interval.high)}]`;
  return ` On the model's own probability: ${raw(threshold.value)}${interval}.`;
}

function calibrationLines(context: ReportContext): string[] {
  const { calibration, calibrationSummaries: splits } = context;
  const bins = splits.test.raw.bins;
  const row = (split: string, what: string, s: CalibrationSummary) => `| ${split} | ${what} | ${s.size} | ${f(s.ece)} | ${f(s.brier)} |`;
  const rows = (split: string, c: SplitCalibration) => [row(split, 'model output', c.raw), ...(c.calibrated ? [row(split, 'calibrated', c.calibrated)] : [])];
  return [
    '## Calibration',
    '',
    calibration.method === 'platt'
      ? `Platt scaling${context.calibrationSummaries.validation ? ' fitted on the validation split' : ''}: P'(${context.positiveClass}) = σ(${f(calibration.a)} · logit P + ${f(calibration.b)}). ` +
        (context.threshold.scale === 'calibrated' ? 'The threshold applies to the calibrated probability' : "The threshold applies to the model's own probability; calibration is reported, not used for the decision") +
        '; predictions.json has both.'
      : 'No calibration: the threshold applies to the model output.',
    '',
    `Expected calibration error over ${bins} equal-width bins of P(${context.positiveClass}) (Σ count/N · |fraction positive − mean predicted|); Brier score = mean (P − label)².`,
    '',
    `| split | probabilities | ${context.unit.many} | ECE | Brier |`,
    '|---|---|---|---|---|',
    ...(splits.validation ? rows('validation', splits.validation) : []),
    ...rows('test', splits.test),
    '',
  ];
}

/** The evaluation report: classification report table, confusion matrix, AUCs, threshold, plots. */
export function renderReport(context: ReportContext): string {
  const { scorecard: s, classes, positiveClass } = context;
  const h = s.headline;
  const row = (name: string, c: { precision: number; recall: number; f1: number; support: number }) =>
    `| ${name} | ${f(c.precision)} | ${f(c.recall)} | ${f(c.f1)} | ${c.support} |`;
  const plot = (title: string, key: string) => (context.plots[key] ? [`### ${title}`, '', `![${title}](${context.plots[key]})`, ''] : []);
  return [
    `# Evaluation: ${context.pipeline} / ${context.stepId}`,
    '',
    `Run \`${context.workflowId}\`, ${context.subject}.`,
    '',
    `Positive class: **${positiveClass}**. Decision threshold: **${describeThreshold(context.threshold, context.unit.many)}**. A test ${context.unit.one} is predicted ${positiveClass} when ${context.threshold.scale === 'calibrated' ? 'the calibrated ' : ''}P(${positiveClass}) ≥ the threshold.${onModelScale(context)}`,
    '',
    ...(context.priorShift?.warning ? [`> **Warning:** ${context.priorShift.warning}.`, ''] : []),
    ...context.notes.flatMap((note) => [note, '']),
    ...(context.threshold.method !== 'fixed' && context.threshold.guard ? guardLines(context.threshold.guard, context.unit.many, context.threshold.method === 'prior-adjusted') : []),
    ...(context.threshold.method !== 'fixed' && context.threshold.prior ? priorAdjustmentLines(context.threshold.prior, positiveClass, context.unit.one) : []),
    '## Headline',
    '',
    '| metric | value |',
    '|---|---|',
    `| accuracy | ${f(h.accuracy)} |`,
    `| sensitivity (recall of ${positiveClass}) | ${f(h.sensitivity)} |`,
    `| specificity | ${f(h.specificity)} |`,
    `| precision of ${positiveClass} | ${f(h.precision)} |`,
    `| F1 of ${positiveClass} | ${f(h.f1)} |`,
    `| ROC AUC | ${f(h.auc)} |`,
    `| PR AUC (average precision) | ${f(h.prAuc)} |`,
    `| log loss | ${f(h.logLoss)} |`,
    '',
    ...calibrationLines(context),
    ...(context.priorShift ? priorShiftLines(context.priorShift, positiveClass) : []),
    '## Classification report',
    '',
    '| class | precision | recall | f1-score | support |',
    '|---|---|---|---|---|',
    ...s.report.classes.map((c) => row(c.name, c)),
    `| accuracy | | | ${f(s.report.accuracy)} | ${s.size} |`,
    row('macro avg', s.report.macroAvg),
    row('weighted avg', s.report.weightedAvg),
    '',
    '## Confusion matrix',
    '',
    'Rows: true class; columns: predicted class.',
    '',
    `| true \\ predicted | ${classes.join(' | ')} |`,
    `|---|${classes.map(() => '---').join('|')}|`,
    ...classes.map((name, i) => `| ${name} | ${(s.confusionMatrix[i] ?? []).join(' | ')} |`),
    '',
    '## Plots',
    '',
    ...plot('Training curves', 'curves'),
    ...plot('Confusion matrix', 'confusion'),
    ...plot('ROC curve', 'roc'),
    ...plot('Reliability diagram', 'reliability'),
    ...plot('Sample test images', 'samples'),
  ].join('\n');
}
