import { dataUri, escapeHtml, imageMediaType } from './html-text.ts';
import { htmlPage, htmlTable } from './html-page.ts';
import { renderMarkdown } from './markdown-html.ts';
import type { EvaluationSection, LoadedReport, RunReport } from './run-report.ts';

/**
 * `mlp report`'s page: one HTML file with everything inlined (plots as data: URIs, no scripts).
 * Every value from the run is escaped; report.md goes through client/results/markdown-html.ts.
 */

export function formatSeconds(seconds: number | undefined): string {
  if (seconds === undefined) return '—';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A metric as the page shows it (4 decimals); the exact value travels in `data-value`. */
export function formatMetric(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(4);
}

function metricCards(step: string, metrics: Record<string, number>): string {
  const cards = Object.entries(metrics).map(
    ([name, value]) =>
      `<div class="metric" data-step="${escapeHtml(step)}" data-metric="${escapeHtml(name)}" data-value="${escapeHtml(String(value))}"><div class="name">${escapeHtml(name)}</div><div class="value">${escapeHtml(formatMetric(value))}</div></div>`,
  );
  return `<div class="metrics">${cards.join('')}</div>`;
}

const code = (value: unknown): string => `<code>${escapeHtml(String(value))}</code>`;
const num = (text: string): string => `<td class="num">${text}</td>`;

function runSection(report: RunReport): string {
  const rows: [string, string][] = [
    ['Pipeline', escapeHtml(report.pipeline) + (report.description ? ` <span class="muted">— ${escapeHtml(report.description)}</span>` : '')],
    ['Status', `<span class="state-${escapeHtml(report.state)}">${escapeHtml(report.status)}</span>${report.failedStep ? ` (step ${escapeHtml(report.failedStep)} failed)` : ''}`],
    ['Run', `${code(report.workflowId)} / ${code(report.runId)}`],
    ['Temporal UI', `<a href="${escapeHtml(report.url)}" rel="noreferrer">${escapeHtml(report.url)}</a>`],
    ['Started', escapeHtml(report.startedAt || '—')],
    ['Ended', escapeHtml(report.endedAt ?? (report.inProgress ? 'still running' : '—'))],
    ['Duration', escapeHtml(formatSeconds(report.seconds))],
    ['Code version', report.lineage.codeVersion === undefined ? '<span class="muted">not recorded (the run published no model)</span>' : code(report.lineage.codeVersion)],
    ['Spec hash', code(report.specHash)],
  ];
  const params = Object.entries(report.params).map(([name, value]) => [escapeHtml(name), code(typeof value === 'string' ? value : JSON.stringify(value))]);
  return [
    '<h2>Run</h2>',
    htmlTable(['', ''], rows),
    '<h3>Params</h3>',
    params.length === 0 ? '<p class="muted">none</p>' : htmlTable(['param', 'value'], params, ' id="params"'),
  ].join('\n');
}

function stepsSection(report: RunReport): string {
  const rows = report.steps.map((step) => [
    escapeHtml(step.id),
    escapeHtml(step.uses),
    `<span class="state-${escapeHtml(step.state)}">${escapeHtml(step.state)}</span>`,
    num(step.attempt === undefined ? '—' : String(step.attempt)),
    num(escapeHtml(formatSeconds(step.seconds))),
    escapeHtml(step.execution) + (step.error === undefined ? '' : `<br><span class="state-failed">${escapeHtml(step.error)}</span>`),
  ]);
  return ['<h2>Steps</h2>', htmlTable(['step', 'kind', 'state', 'attempts', 'duration', 'cache / execution'], rows, ' id="steps"')].join('\n');
}

function evaluationSection(evaluation: EvaluationSection, objects: ReadonlyMap<string, Uint8Array>): string {
  const parts = [`<h2>Evaluation: ${escapeHtml(evaluation.step)}</h2>`];
  if (Object.keys(evaluation.metrics).length > 0) parts.push(metricCards(evaluation.step, evaluation.metrics));
  if (evaluation.threshold !== undefined) parts.push(`<p>Threshold ${code(formatMetric(evaluation.threshold))}</p>`);
  let shown: string[] = [];
  if (evaluation.markdown !== undefined && evaluation.reportKey !== undefined) {
    const rendered = renderMarkdown(evaluation.markdown, evaluation.reportKey, objects);
    shown = rendered.shownImages;
    parts.push(`<div class="markdown">${rendered.html}</div>`);
  } else {
    parts.push(`<p class="muted">No report yet${evaluation.reportKey ? ` (${escapeHtml(evaluation.reportKey)} not found)` : ''}.</p>`);
  }
  // Plots the report did not show (or every plot, without a report).
  for (const plot of evaluation.plots.filter((candidate) => !shown.includes(candidate.key))) {
    const bytes = objects.get(plot.key);
    const mediaType = imageMediaType(plot.key);
    parts.push(`<h3>${escapeHtml(plot.name)}</h3>`);
    parts.push(bytes === undefined || mediaType === undefined ? `<p class="muted">${escapeHtml(plot.key)} is not stored</p>` : `<img src="${dataUri(mediaType, bytes)}" alt="${escapeHtml(plot.name)}">`);
  }
  return parts.join('\n');
}

function sweepSections(report: RunReport): string {
  return report.sweeps
    .map((sweep) => {
      const names = [...new Set(sweep.trials.flatMap((trial) => Object.keys(trial.matrix)))];
      const metric = sweep.select === undefined ? 'metric' : `${sweep.select.metric} (${sweep.select.goal})`;
      const rows = sweep.trials.map((trial) => [
        num(String(trial.index)),
        ...names.map((name) => code(trial.matrix[name] ?? '')),
        `<span class="state-${escapeHtml(trial.state)}">${escapeHtml(trial.state)}</span>`,
        num(trial.metric === undefined ? '—' : escapeHtml(formatMetric(trial.metric))),
        trial.selected ? '<strong>selected</strong>' : '',
        trial.error === undefined ? '' : `<span class="state-failed">${escapeHtml(trial.error)}</span>`,
      ]);
      return [`<h2>Sweep: ${escapeHtml(sweep.step)}</h2>`, htmlTable(['trial', ...names.map(escapeHtml), 'state', escapeHtml(metric), '', 'error'], rows, ' class="trials"')].join('\n');
    })
    .join('\n');
}

function registrySection(report: RunReport): string {
  if (report.publications.length === 0) return '';
  const rows = report.publications.map((publication) => [
    escapeHtml(publication.step),
    `${escapeHtml(publication.name)} ${code(`v${publication.version}`)}`,
    publication.promoted ? '<strong>promoted to production</strong>' : 'not promoted',
    escapeHtml(publication.reason),
    publication.record === undefined ? `<span class="muted">${escapeHtml(publication.recordError ?? '')}</span>` : code(publication.record.model),
  ]);
  return ['<h2>Model registry</h2>', htmlTable(['step', 'version', 'promotion', 'why', 'model'], rows, ' id="registry"')].join('\n');
}

function lineageSection(report: RunReport): string {
  const { lineage } = report;
  const rows: [string, string][] = [
    ['dataset hash', lineage.datasetHash === undefined ? '—' : code(lineage.datasetHash)],
    ['split manifest hash', lineage.manifestHash === undefined ? '—' : code(lineage.manifestHash)],
    ['weights sha256', lineage.weightsSha256 === undefined ? '—' : code(lineage.weightsSha256)],
    ['code sha256', Object.keys(lineage.code).length === 0 ? '<span class="muted">no run step</span>' : Object.entries(lineage.code).map(([step, value]) => `${escapeHtml(step)}: ${code(value)}`).join('<br>')],
    ['code version', lineage.codeVersion === undefined ? '—' : code(lineage.codeVersion)],
  ];
  return ['<h2>Lineage</h2>', htmlTable(['', ''], rows, ' id="lineage"')].join('\n');
}

/** The whole page. */
export function renderRunReport({ report, objects }: LoadedReport): string {
  const banner = report.inProgress
    ? `<div class="banner running" id="in-progress">Run in progress: this report shows what exists at ${escapeHtml(report.generatedAt)}.</div>`
    : report.state === 'failed'
      ? `<div class="banner failed">Run failed${report.failedStep ? ` at step ${escapeHtml(report.failedStep)}` : ''}.</div>`
      : '';
  const body = [
    `<h1>${escapeHtml(report.pipeline)} <span class="muted">${escapeHtml(report.workflowId)}</span></h1>`,
    `<p class="muted">Report generated ${escapeHtml(report.generatedAt)} by mlp report.</p>`,
    banner,
    report.headline === undefined ? '' : `<section id="headline"><h2>Headline metrics (${escapeHtml(report.headline.step)})</h2>${metricCards(report.headline.step, report.headline.metrics)}</section>`,
    runSection(report),
    stepsSection(report),
    ...report.evaluations.map((evaluation) => evaluationSection(evaluation, objects)),
    sweepSections(report),
    registrySection(report),
    lineageSection(report),
  ];
  return htmlPage(`${report.pipeline} ${report.workflowId}${report.inProgress ? ' (in progress)' : ''}`, body.filter((part) => part !== '').join('\n'));
}
