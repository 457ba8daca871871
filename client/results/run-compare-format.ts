import { escapeHtml } from './html-text.ts';
import { htmlPage, htmlTable } from './html-page.ts';
import type { RunComparison, RunCurves } from './run-compare.ts';
import { formatMetric } from './run-report-html.ts';
import { lineChartSvg, SERIES_COLORS, type ChartSeries } from './svg-chart.ts';

/** `mlp compare` as a terminal table and as a self-contained HTML page with curves overlaid. */

function paramText(value: unknown): string {
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function signed(value: number | null): string {
  if (value === null) return '—';
  if (value === 0) return '0';
  return `${value > 0 ? '+' : '−'}${formatMetric(Math.abs(value))}`;
}

/** Letters naming runs in narrow columns: A, B, … */
export function runLetter(index: number): string {
  return String.fromCharCode(65 + (index % 26)) + (index >= 26 ? String(Math.floor(index / 26)) : '');
}

export function formatComparison(comparison: RunComparison): string {
  const { runs } = comparison;
  const header = ['', ...runs.map((_, index) => runLetter(index)), ...runs.slice(1).map((_, index) => `${runLetter(index + 1)}−A`)];
  const rows: string[][] = [];
  const differing = comparison.params.filter((row) => row.differs);
  rows.push([differing.length === 0 ? 'params: all equal' : 'params that differ']);
  for (const row of differing) rows.push([`  ${row.name}`, ...row.values.map(paramText)]);
  rows.push(['metrics']);
  for (const row of comparison.metrics) {
    rows.push([`  ${row.name}`, ...row.values.map((value) => (value === null ? '—' : formatMetric(value))), ...row.deltas.slice(1).map(signed)]);
  }
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => (row.length > 1 ? (row[column] ?? '').length : 0))));
  const line = (row: string[]): string => (row.length === 1 ? (row[0] ?? '') : row.map((cell, column) => (column === 0 ? cell.padEnd(widths[0] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ').trimEnd());
  return [...runs.map((run, index) => `${runLetter(index)}  ${run.workflowId}  ${run.status}  ${run.startedAt}`), '', line(header), ...rows.map(line)].join('\n');
}

function curveCharts(curves: readonly RunCurves[]): string {
  const color = (index: number): string => SERIES_COLORS[index % SERIES_COLORS.length] ?? '#000';
  const label = (index: number, run: RunCurves): string => `${runLetter(index)} ${run.workflowId}`;
  const epochSeries = (field: 'loss' | 'valLoss' | 'accuracy' | 'valAccuracy'): ChartSeries[] =>
    curves.flatMap((run, index) => {
      const points = (run.epochs ?? []).flatMap((epoch) => (typeof epoch[field] === 'number' ? [[epoch.epoch, epoch[field]] as const] : []));
      return points.length === 0 ? [] : [{ name: label(index, run), color: color(index), points }];
    });
  const charts: string[] = [];
  const loss = epochSeries('loss');
  const valLoss = epochSeries('valLoss');
  if (loss.length > 0) charts.push(lineChartSvg({ title: 'Training loss', xLabel: 'epoch', yLabel: 'loss', series: loss }));
  if (valLoss.length > 0) charts.push(lineChartSvg({ title: 'Validation loss', xLabel: 'epoch', yLabel: 'val loss', series: valLoss }));
  const roc: ChartSeries[] = curves.flatMap((run, index) =>
    run.roc === undefined ? [] : [{ name: `${label(index, run)}${run.auc === undefined ? '' : ` AUC ${formatMetric(run.auc)}`}`, color: color(index), points: run.roc.map((point) => [point.fpr, point.tpr] as const) }],
  );
  if (roc.length > 0) {
    charts.push(lineChartSvg({ title: 'ROC curve (test)', xLabel: 'false positive rate', yLabel: 'true positive rate', series: roc, xDomain: [0, 1], yDomain: [0, 1], diagonal: true, legend: 'bottom-right' }));
  }
  return charts.length === 0 ? '<p class="muted">No training history or ROC curve stored for these runs.</p>' : `<div class="charts">${charts.join('\n')}</div>`;
}

export function renderComparison(comparison: RunComparison, curves: readonly RunCurves[], uiUrl: (workflowId: string, runId: string) => string): string {
  const { runs } = comparison;
  const runRows = runs.map((run, index) => [
    `<strong>${runLetter(index)}</strong>`,
    `<a href="${escapeHtml(uiUrl(run.workflowId, run.runId))}" rel="noreferrer"><code>${escapeHtml(run.workflowId)}</code></a>`,
    escapeHtml(run.pipeline),
    escapeHtml(run.status),
    escapeHtml(run.startedAt),
  ]);
  const letters = runs.map((_, index) => runLetter(index));
  const paramRows = comparison.params.map((row) => [
    escapeHtml(row.name),
    ...row.values.map((value) => `<td class="${row.differs ? 'differs' : ''}"><code>${escapeHtml(paramText(value))}</code></td>`),
  ]);
  const metricRows = comparison.metrics.map((row) => [
    escapeHtml(row.name),
    ...row.values.map((value, index) =>
      value === null ? '<td class="num">—</td>' : `<td class="num" data-run="${escapeHtml(runs[index]?.workflowId ?? '')}" data-metric="${escapeHtml(row.name)}" data-value="${escapeHtml(String(value))}">${escapeHtml(formatMetric(value))}</td>`,
    ),
    ...row.deltas.slice(1).map((delta) => `<td class="num">${escapeHtml(signed(delta))}</td>`),
  ]);
  const body = [
    `<h1>Run comparison <span class="muted">${runs.length} runs</span></h1>`,
    htmlTable(['', 'run', 'pipeline', 'status', 'started'], runRows, ' id="runs"'),
    '<h2>Params</h2>',
    comparison.differingParams.length === 0 ? '<p>All params are equal.</p>' : `<p>Differ: ${comparison.differingParams.map((name) => `<code>${escapeHtml(name)}</code>`).join(', ')}</p>`,
    htmlTable(['param', ...letters], paramRows, ' id="params"'),
    '<h2>Metrics</h2>',
    htmlTable(['metric', ...letters, ...letters.slice(1).map((letter) => `${letter}−A`)], metricRows, ' id="metrics"'),
    '<h2>Curves</h2>',
    curveCharts(curves),
  ];
  return htmlPage(`Comparison of ${runs.map((run) => run.workflowId).join(', ')}`, body.join('\n'));
}
