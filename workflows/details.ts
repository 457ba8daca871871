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

/** Markdown shown as the run's "current details" in the Temporal UI: one line per step. */
export function renderCurrentDetails(progress: PipelineProgress): string {
  const lines = progress.steps.map((step) => {
    const error = step.error === undefined ? '' : ` — ${step.error}`;
    return `| ${ICONS[step.state]} | \`${step.id}\` | ${step.uses} | ${step.queue} | ${step.state}${trialsText(step.trials)}${error} |`;
  });
  return [
    `**${progress.pipeline}** — ${progress.state}`,
    '',
    '| | step | kind | queue | state |',
    '|---|---|---|---|---|',
    ...lines,
  ].join('\n');
}
