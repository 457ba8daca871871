import { COLORS, legend, line, panel, renderPng, svgDocument, text, ticks } from './svg.ts';

/** The per-epoch values the curves need (a subset of the trainer's epoch log). */
export interface CurveEpoch {
  epoch: number;
  loss: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
}

/** One training run's history, e.g. `partial` then `full`. */
export interface CurveRun {
  name: string;
  epochs: readonly CurveEpoch[];
}

const WIDTH = 1000;
const HEIGHT = 420;

/**
 * Accuracy and loss per epoch, train (solid) vs validation (dashed), side by side. Runs are laid
 * end to end on one epoch axis, separated by a marked boundary, as the full run continues the
 * partial run's model.
 */
export async function trainingCurvesPng(runs: readonly CurveRun[]): Promise<Buffer> {
  const points = runs.flatMap((run, r) => run.epochs.map((epoch) => ({ run: r, ...epoch })));
  const total = Math.max(points.length, 1);
  const step = (i: number) => i + 1;
  const boundaries: Array<{ at: number; name: string }> = [];
  let offset = 0;
  for (const run of runs) {
    boundaries.push({ at: offset + 0.5, name: run.name });
    offset += run.epochs.length;
  }
  const losses = points.flatMap((p) => [p.loss, p.valLoss]).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const maxLoss = Math.max(...losses, 0.1) * 1.05;
  const body: string[] = [];
  const xTicks = ticks(1, Math.max(total, 2), Math.min(total, 10)).filter((t) => Number.isInteger(t));
  const panels = [
    { key: 'accuracy', title: 'Accuracy', y: [0, 1] as [number, number], train: (p: CurveEpoch) => p.accuracy, val: (p: CurveEpoch) => p.valAccuracy },
    { key: 'loss', title: 'Loss', y: [0, maxLoss] as [number, number], train: (p: CurveEpoch) => p.loss, val: (p: CurveEpoch) => p.valLoss },
  ];
  panels.forEach((spec, i) => {
    const p = panel({
      left: 70 + i * 500,
      top: 40,
      width: 400,
      height: 310,
      xDomain: [0.5, total + 0.5],
      yDomain: spec.y,
      title: spec.title,
      xLabel: 'epoch',
      yLabel: spec.key,
      xTicks,
    });
    body.push(...p.svg);
    for (const boundary of boundaries) {
      if (boundary.at > 0.5) body.push(`<line x1="${p.x(boundary.at)}" y1="${p.y(spec.y[1])}" x2="${p.x(boundary.at)}" y2="${p.y(spec.y[0])}" stroke="#888" stroke-dasharray="2 3"/>`);
      if (runs.length > 1) body.push(text(p.x(boundary.at) + 4, p.y(spec.y[1]) + 14, boundary.name, { size: 11, fill: '#555' }));
    }
    runs.forEach((_, r) => {
      const own = points.map((point, index) => ({ point, index })).filter(({ point }) => point.run === r);
      const series = (pick: (p: CurveEpoch) => number | undefined) =>
        own.flatMap(({ point, index }) => {
          const value = pick(point);
          return value === undefined ? [] : [[step(index), value] as const];
        });
      body.push(...line(p, series(spec.train), COLORS[0], { markers: true }));
      body.push(...line(p, series(spec.val), COLORS[1], { dashed: true, markers: true }));
    });
    body.push(
      ...legend(p.x(total + 0.5) - 110, p.y(spec.y[1]) + (spec.key === 'accuracy' ? 230 : 24), [
        { label: 'train', color: COLORS[0] },
        { label: 'validation', color: COLORS[1], dashed: true },
      ]),
    );
  });
  if (points.length === 0) body.push(text(WIDTH / 2, HEIGHT / 2, 'no training history', { anchor: 'middle', size: 16 }));
  return renderPng(svgDocument(WIDTH, HEIGHT, body));
}
