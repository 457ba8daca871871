/**
 * A short, human summary of a finished pipeline run's outputs: one line per step with the
 * numbers people look at (data sizes, training and test metrics, the published model). Any
 * step kind it does not know is shown as compact JSON; `--json` always prints everything.
 */

type Outputs = Record<string, unknown>;

function field(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

const fixed = (value: unknown, digits = 3): string => (typeof value === 'number' ? value.toFixed(digits) : '–');

function total(counts: unknown): number {
  if (typeof counts !== 'object' || counts === null) return 0;
  return Object.values(counts).reduce<number>((sum, n) => sum + (typeof n === 'number' ? n : total(n)), 0);
}

/** ` · features: onnxruntime` for a train step that cached frozen-backbone features (outputs from before featureEngine have none). */
function featureSummary(out: Outputs): string {
  const engine = out.featureEngine;
  return typeof engine === 'string' && engine !== 'none' ? ` · features: ${engine}` : '';
}

/** A metric as people read it: 4 significant digits (0.9123, 0.00001, 12350), integers whole. */
function metricText(value: unknown): string {
  if (typeof value !== 'number') return JSON.stringify(value);
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

/** `valAuc 0.9123 · loss 0.2 — outputs model/, predictions`: a run step's metrics (as its code wrote them) and declared outputs. */
function runSummary(out: Outputs): string {
  const metrics = typeof out.metrics === 'object' && out.metrics !== null ? Object.entries(out.metrics) : [];
  const metricsText = metrics.length > 0 ? metrics.map(([name, value]) => `${name} ${metricText(value)}`).join(' · ') : 'no metrics';
  const outputs = Object.entries(out)
    .filter(([name, value]) => !['metrics', 'artifacts', 'trials', 'selectedTrial'].includes(name) && typeof value === 'string')
    .map(([name, value]) => (String(value).endsWith('/') ? `${name}/` : name));
  return `${metricsText} — ${outputs.length > 0 ? `outputs ${outputs.join(', ')}` : 'no outputs'}`;
}

function summarizeStep(uses: string, out: Outputs, bucket: string): string {
  switch (uses) {
    case 'download':
      return `dataset ${String(out.datasetHash ?? '').slice(0, 12)}… — ${total(out.counts)} images, ${String(out.skipped ?? 0)} skipped`;
    case 'subset':
      return `train ${total(field(out, 'counts', 'train'))} · val ${total(field(out, 'counts', 'val'))} · test ${total(field(out, 'counts', 'test'))} images`;
    case 'train':
      return `${String(out.epochs)} epochs on ${String(out.engine)} — val AUC ${fixed(field(out, 'finalMetrics', 'valAuc'))}, val accuracy ${fixed(field(out, 'finalMetrics', 'valAccuracy'))}${out.resumedFromEpoch ? ` (resumed from epoch ${String(out.resumedFromEpoch)})` : ''}${featureSummary(out)}`;
    case 'evaluate':
      return [
        `test AUC ${fixed(field(out, 'metrics', 'auc'))} · accuracy ${fixed(field(out, 'metrics', 'accuracy'))}`,
        `sensitivity ${fixed(field(out, 'metrics', 'sensitivity'))} · specificity ${fixed(field(out, 'metrics', 'specificity'))}`,
        `threshold ${fixed(out.threshold)} (${String(out.thresholdMethod)}) on ${String(out.testSize)} test images`,
        ...(typeof out.shiftWarning === 'string' ? [`warning: ${out.shiftWarning}`] : []),
        `report s3://${bucket}/${String(out.report)}`,
      ].join('\n               ');
    case 'publish':
      return `version ${String(out.version)} at ${String(out.prefix)} — ${String(out.reason ?? (out.promoted ? 'promoted' : 'not promoted'))}`;
    case 'run':
      return runSummary(out);
    default:
      return JSON.stringify(out);
  }
}

export interface SummaryStep {
  id: string;
  uses: string;
  cached?: boolean;
}

export function summarizeRun(steps: readonly SummaryStep[], outputs: Record<string, Outputs>, bucket: string): string {
  return steps
    .map((step) => {
      const out = outputs[step.id];
      const line = out === undefined ? 'no outputs' : summarizeStep(step.uses, out, bucket);
      return `  ${step.id.padEnd(12)} ${line}`;
    })
    .join('\n');
}
