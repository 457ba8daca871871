import type { EvaluateInput } from '../../common/step-kinds/evaluate.ts';
import { formatTrialMatrix } from '../../common/sweep.ts';
import { sweepTrialsPng } from './plots/sweep-trials.ts';

type Sweep = NonNullable<EvaluateInput['sweep']>;

function metricText(value: number | undefined): string {
  return value === undefined ? '—' : String(Number(value.toPrecision(6)));
}

/** The report's "Sweep" section: which trial won, by which rule and value, and every trial's result. */
export function sweepReportSection(sweep: Sweep, plotPath: string): string {
  const winner = sweep.trials.find((trial) => trial.selected);
  const rule = sweep.selectedTrial?.select;
  const succeeded = sweep.trials.filter((trial) => trial.status === 'succeeded');
  const ties = winner === undefined ? [] : succeeded.filter((trial) => trial.metric === winner.metric && trial.index !== winner.index);
  const why =
    winner === undefined
      ? 'No trial was selected.'
      : `Trial **#${winner.index}** (${formatTrialMatrix(winner.matrix)}) won: ` +
        `${rule ? `the ${rule.goal === 'max' ? 'highest' : 'lowest'} ${rule.metric}` : 'the best select metric'}, ${metricText(winner.metric)}, ` +
        `among ${succeeded.length} succeeded of ${sweep.trials.length} trials` +
        `${ties.length > 0 ? `; tied with ${ties.map((trial) => `#${trial.index}`).join(', ')}, it has the lowest index` : ''}.`;
  return [
    '## Sweep',
    '',
    why,
    '',
    `| trial | settings | status | ${rule?.metric ?? 'metric'} | selected |`,
    '|---|---|---|---|---|',
    ...sweep.trials.map((trial) => `| #${trial.index} | ${formatTrialMatrix(trial.matrix)} | ${trial.status}${trial.error ? ` (${trial.error})` : ''} | ${metricText(trial.metric)} | ${trial.selected ? 'yes' : ''} |`),
    '',
    `![Sweep](${plotPath})`,
    '',
  ].join('\n');
}

/** The PNG beside it: the metric per trial, the winner highlighted. */
export function sweepPlot(sweep: Sweep): Promise<Buffer> {
  const rule = sweep.selectedTrial?.select;
  return sweepTrialsPng(
    sweep.trials.map((trial) => ({ index: trial.index, label: formatTrialMatrix(trial.matrix), selected: trial.selected, ...(trial.metric === undefined ? {} : { metric: trial.metric }) })),
    rule?.metric ?? 'select metric',
    rule?.goal ?? '',
  );
}
