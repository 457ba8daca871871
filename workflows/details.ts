import type { PipelineProgress, StepState } from '../common/pipeline-progress.ts';

const ICONS: Record<StepState, string> = {
  pending: '⏳',
  running: '▶️',
  succeeded: '✅',
  failed: '❌',
  cancelled: '⛔',
  cached: '♻️',
  reused: '🔁',
};

/** Markdown shown as the run's "current details" in the Temporal UI: one line per step. */
export function renderCurrentDetails(progress: PipelineProgress): string {
  const lines = progress.steps.map((step) => {
    const error = step.error === undefined ? '' : ` — ${step.error}`;
    return `| ${ICONS[step.state]} | \`${step.id}\` | ${step.uses} | ${step.queue} | ${step.state}${error} |`;
  });
  return [
    `**${progress.pipeline}** — ${progress.state}`,
    '',
    '| | step | kind | queue | state |',
    '|---|---|---|---|---|',
    ...lines,
  ].join('\n');
}
