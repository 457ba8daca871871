import { COLORS, formatTick, renderPng, svgDocument, text, ticks } from './svg.ts';

export interface TrialBar {
  index: number;
  /** `learningRate=0.001 units=8` */
  label: string;
  metric?: number;
  selected: boolean;
}

/** Bar chart of a sweep's select metric per trial; the selected trial in another colour, trials without a metric marked. */
export async function sweepTrialsPng(trials: readonly TrialBar[], metricName: string, goal: string): Promise<Buffer> {
  const left = 80;
  const top = 70;
  const barWidth = Math.max(24, Math.min(70, Math.floor(640 / Math.max(1, trials.length))));
  const plotWidth = barWidth * trials.length;
  const plotHeight = 260;
  const width = left + plotWidth + 40;
  const height = top + plotHeight + 60 + 16 * trials.length;
  const values = trials.flatMap((trial) => (trial.metric === undefined ? [] : [trial.metric]));
  const max = Math.max(0, ...values);
  const min = Math.min(0, ...values);
  const span = max - min || 1;
  const y = (value: number) => top + plotHeight - ((value - min) / span) * plotHeight;
  const body: string[] = [
    text(width / 2, 26, `Sweep: ${metricName} per trial`, { anchor: 'middle', size: 16, weight: 'bold' }),
    text(width / 2, 46, `goal ${goal}; ties go to the lowest trial index`, { anchor: 'middle', size: 12, fill: '#555' }),
    `<rect x="${left}" y="${top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#444"/>`,
  ];
  for (const tick of ticks(min, max)) {
    body.push(`<line x1="${left}" y1="${y(tick)}" x2="${left + plotWidth}" y2="${y(tick)}" stroke="#e5e5e5"/>`);
    body.push(text(left - 6, y(tick) + 4, formatTick(tick), { anchor: 'end', size: 11 }));
  }
  trials.forEach((trial, at) => {
    const x = left + at * barWidth;
    if (trial.metric === undefined) {
      body.push(text(x + barWidth / 2, top + plotHeight - 6, '×', { anchor: 'middle', size: 14, fill: COLORS[3] }));
    } else {
      const fill = trial.selected ? COLORS[1] : COLORS[0];
      const top0 = Math.min(y(trial.metric), y(0));
      body.push(`<rect x="${x + 4}" y="${top0}" width="${barWidth - 8}" height="${Math.abs(y(trial.metric) - y(0))}" fill="${fill}"/>`);
    }
    body.push(text(x + barWidth / 2, top + plotHeight + 16, `#${trial.index}`, { anchor: 'middle', size: 11 }));
    body.push(text(left, top + plotHeight + 44 + 16 * at, `#${trial.index}${trial.selected ? ' (selected)' : ''}: ${trial.label}${trial.metric === undefined ? ' — no metric' : ` — ${formatTick(trial.metric)}`}`, { size: 11 }));
  });
  return renderPng(svgDocument(width, height, body));
}
