import type { EvaluateOutput } from '../../common/step-kinds/evaluate.ts';
import { invertPlatt, type CalibrationSummary } from './calibration.ts';
import type { Scorecard } from './scoring.ts';
import type { ThresholdChoice } from './threshold.ts';

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
  scorecard: Scorecard;
  plots: Record<string, string>;
}

/** What one example of a split is called in the report, and several. */
export interface ExampleUnit {
  one: string;
  many: string;
}

const f = (value: number): string => value.toFixed(4);

const CRITERION_NAMES: Record<Exclude<ThresholdChoice['method'], 'fixed'>, string> = {
  youden: "Youden's J",
  f1: 'F1',
  'balanced-accuracy': 'balanced accuracy',
  sensitivity: 'specificity at the sensitivity floor',
};

export function describeThreshold(threshold: ThresholdChoice, unit = 'images'): string {
  const scale = threshold.scale === 'calibrated' ? 'calibrated ' : '';
  if (threshold.method === 'fixed') return `${f(threshold.value)} on the ${scale}probability, fixed in the pipeline`;
  const floor = threshold.minSensitivity === undefined ? '' : ` with sensitivity ≥ ${f(threshold.minSensitivity)}`;
  return (
    `${f(threshold.value)} on the ${scale}probability, chosen on the validation split (${threshold.validationSize} ${unit}) by ${CRITERION_NAMES[threshold.method]}${floor}: ` +
    `every threshold in (${f(threshold.interval.low)}, ${f(threshold.interval.high)}] scored within ${f(threshold.tolerance)} of the best ${f(threshold.best)}, and this is the middle of that interval ` +
    `(validation sensitivity ${f(threshold.tpr)}, false positive rate ${f(threshold.fpr)}); the test split played no part in it`
  );
}

/** The calibrated threshold (and interval) on the model's own probability, where they differ. */
function onModelScale(context: ReportContext): string {
  const { calibration, threshold } = context;
  if (calibration.method !== 'platt') return '';
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
      ? `Platt scaling fitted on the validation split: P'(${context.positiveClass}) = σ(${f(calibration.a)} · logit P + ${f(calibration.b)}). The threshold applies to the calibrated probability; predictions.json has both.`
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
    `Positive class: **${positiveClass}**. Decision threshold: **${describeThreshold(context.threshold, context.unit.many)}**. A test ${context.unit.one} is predicted ${positiveClass} when ${context.calibration.method === 'platt' ? 'the calibrated ' : ''}P(${positiveClass}) ≥ the threshold.${onModelScale(context)}`,
    '',
    ...context.notes.flatMap((note) => [note, '']),
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
