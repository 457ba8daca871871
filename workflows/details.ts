import type { PipelineProgress, StepState, TrialProgress } from '../common/pipeline-progress.ts';

const ICONS: Record<StepState, string> = {
  pending: '⏳',
  running: '▶️',
  succeeded: '✅',
  failed: '❌',
  cancelled: '⛔',
  cached: '♻️',
  reused: '🔁',
};

/** `, trials: 3/6 done, 2 running, selected #1`: a sweep's progress in one cell. */
function trialsText(trials: readonly TrialProgress[] | undefined): string {
  if (trials === undefined) return '';
  const done = trials.filter((trial) => ['succeeded', 'cached', 'failed', 'cancelled'].includes(trial.state)).length;
  const running = trials.filter((trial) => trial.state === 'running').length;
  const failed = trials.filter((trial) => trial.state === 'failed').length;
  const selected = trials.find((trial) => trial.selected === true);
  return `, trials: ${done}/${trials.length} done${running > 0 ? `, ${running} running` : ''}${failed > 0 ? `, ${failed} failed` : ''}${selected ? `, selected #${selected.index}` : ''}`;
}

/** Steps listed one per line; a larger run lists its states' counts and its first unfinished or failed steps. */
const MAX_DETAIL_ROWS = 100;

/**
 * Markdown shown as the run's "current details" in the Temporal UI: one line per step (a run of
 * thousands lists only counts and the first unfinished steps: it is rendered on every event).
 */
export function renderCurrentDetails(progress: PipelineProgress): string {
  const large = progress.steps.length > MAX_DETAIL_ROWS;
  const shown = large ? progress.steps.filter((step) => step.state === 'running' || step.state === 'failed').slice(0, MAX_DETAIL_ROWS) : progress.steps;
  const counts = new Map<string, number>();
  if (large) for (const step of progress.steps) counts.set(step.state, (counts.get(step.state) ?? 0) + 1);
  const summary = large ? [`${progress.steps.length} steps: ${[...counts].map(([state, count]) => `${count} ${state}`).join(', ')}`, ''] : [];
  const lines = shown.map((step) => {
    const error = step.error === undefined ? '' : ` — ${step.error}`;
    return `| ${ICONS[step.state]} | \`${step.id}\` | ${step.uses} | ${step.queue} | ${step.state}${trialsText(step.trials)}${error} |`;
  });
  return [
    `**${progress.pipeline}** — ${progress.state}`,
    '',
    ...summary,
    '| | step | kind | queue | state |',
    '|---|---|---|---|---|',
    ...lines,
  ].join('\n');
}
