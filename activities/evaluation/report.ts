import type { Scorecard } from './scoring.ts';
import type { ThresholdChoice } from './threshold.ts';

/** What the markdown report describes; plot paths are relative to the report. */
export interface ReportContext {
  pipeline: string;
  workflowId: string;
  stepId: string;
  model: string;
  testManifest: string;
  classes: readonly string[];
  positiveClass: string;
  threshold: ThresholdChoice;
  scorecard: Scorecard;
  plots: Record<string, string>;
  backend: string;
}

const f = (value: number): string => value.toFixed(4);

export function describeThreshold(threshold: ThresholdChoice): string {
  return threshold.method === 'fixed'
    ? `${f(threshold.value)}, fixed in the pipeline`
    : `${f(threshold.value)}, chosen on the validation split (${threshold.validationSize} images) by Youden's J = ${f(threshold.youdenJ)} (sensitivity ${f(threshold.tpr)}, false positive rate ${f(threshold.fpr)}); the test split played no part in it`;
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
    `Run \`${context.workflowId}\`, model \`${context.model}\`, test split \`${context.testManifest}\` (${s.size} images, not augmented), tfjs backend \`${context.backend}\`.`,
    '',
    `Positive class: **${positiveClass}**. Decision threshold: **${describeThreshold(context.threshold)}**. An image is predicted ${positiveClass} when P(${positiveClass}) ≥ the threshold.`,
    '',
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
    ...plot('Sample test images', 'samples'),
  ].join('\n');
}
