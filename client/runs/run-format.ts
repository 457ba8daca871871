import type { TrialProgress } from '../../common/pipeline-progress.ts';
import { formatTrialMatrix } from '../../common/sweep.ts';
import type { StepProgressView } from './progress.ts';
import type { RunView } from './run-view.ts';

/** Human-readable text of a run for `mlp show` (and the end of `mlp watch`). */

/** `1.2 s`, `3 min 04 s`, `2 h 05 min` between two ISO times; empty when either is missing. */
export function formatDuration(from: string | undefined, to: string | undefined): string {
  if (!from || !to) return '';
  const ms = Date.parse(to) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

function stepLine(step: StepProgressView, width: number): string {
  const parts = [step.id.padEnd(width), step.state.padEnd(9), `${step.uses} on ${step.queue}`.padEnd(18)];
  if (step.attempt !== undefined) parts.push(`attempt ${step.attempt}`);
  const took = formatDuration(step.startedAt, step.endedAt);
  if (took) parts.push(took);
  if (step.cached) parts.push('(cache hit)');
  if (step.reusedFrom !== undefined) parts.push(`(reused from ${step.reusedFrom})`);
  if (step.reuseMiss !== undefined) parts.push(`(ran again: ${step.reuseMiss})`);
  if (step.cacheMiss !== undefined) parts.push(`(ran again: ${step.cacheMiss})`);
  if (step.error) parts.push(`— ${step.error}`);
  if (step.lastFailure) parts.push(`— last attempt: ${step.lastFailure}`);
  return `  ${parts.join('  ')}`.trimEnd();
}

/** One line per trial of a sweep step: settings, state, time, select metric; the winner marked. */
export function trialLines(trials: readonly TrialProgress[], indent = '    '): string[] {
  const settings = trials.map((trial) => formatTrialMatrix(trial.matrix));
  const width = Math.max(...settings.map((text) => text.length), 0);
  return trials.map((trial, at) => {
    const parts = [`#${trial.index}`.padEnd(4), (settings[at] ?? '').padEnd(width), trial.state.padEnd(9)];
    const took = formatDuration(trial.startedAt, trial.endedAt);
    if (took) parts.push(took);
    if (trial.metric !== undefined) parts.push(`metric ${Number(trial.metric.toFixed(6))}`);
    if (trial.selected === true) parts.push('<- selected');
    if (trial.error !== undefined) parts.push(`— ${trial.error}`);
    return `${indent}${parts.join('  ')}`.trimEnd();
  });
}

function metricsText(metrics: unknown): string {
  if (typeof metrics !== 'object' || metrics === null) return JSON.stringify(metrics);
  return Object.entries(metrics)
    .map(([name, value]) => `${name}=${typeof value === 'number' ? Number(value.toFixed(4)) : JSON.stringify(value)}`)
    .join(' ');
}

export function formatRunView(view: RunView, url: string): string {
  const width = Math.max(...view.steps.map((step) => step.id.length), 4);
  const lines = [
    `${view.workflowId}  ${view.state} (${view.status})`,
    `  pipeline ${view.pipeline}  spec ${view.specHash.slice(0, 12)}  run ${view.runId}`,
    `  started ${view.startedAt}${view.endedAt ? `  ended ${view.endedAt}  took ${formatDuration(view.startedAt, view.endedAt)}` : ''}`,
    `  ${url}`,
  ];
  if (view.rerunOf) lines.push(`  rerun of ${view.rerunOf.run} from ${view.rerunOf.from}`);
  if (view.note) lines.push(`  note: ${view.note}`);
  lines.push('steps:', ...view.steps.flatMap((step) => [stepLine(step, width), ...trialLines(step.trials ?? [])]));
  const metrics = Object.entries(view.metrics);
  if (metrics.length > 0) lines.push('metrics:', ...metrics.map(([step, value]) => `  ${step}: ${metricsText(value)}`));
  if (view.artifacts.length > 0) lines.push('artifacts:', ...view.artifacts.map((ref) => `  ${ref.step}.${ref.output}  ${ref.key}`));
  const reports = Object.entries(view.reports);
  if (reports.length > 0) lines.push('report:', ...reports.map(([step, key]) => `  ${step}: ${key}`));
  const notifications = view.notifications ?? [];
  if (notifications.length > 0) {
    lines.push('notifications:', ...notifications.map((notice) => `  notify[${notice.index}]  ${notice.state}${notice.error === undefined ? '' : ` — ${notice.error}`}`));
  }
  const tracking = view.tracking;
  if (tracking !== undefined) {
    lines.push('tracking (MLflow):');
    if (tracking.runId !== undefined) lines.push(`  experiment ${tracking.experimentId ?? '?'}  run ${tracking.runId}`);
    lines.push(...tracking.warnings.map((warning) => `  warning: ${warning}`));
  }
  return lines.join('\n');
}
