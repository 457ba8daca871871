import type { CalibrationSummary } from '../calibration.ts';
import { COLORS, legend, line, panel, renderPng, svgDocument, text } from './svg.ts';

/** One split's reliability curve, labelled with its ECE and Brier score. */
export interface ReliabilitySeries {
  label: string;
  summary: CalibrationSummary;
}

/**
 * Reliability diagram: share of positives against mean predicted probability in each non-empty
 * equal-width bin (marker area grows with the bin's count), one line per split, and the
 * diagonal a perfectly calibrated model follows.
 */
export async function reliabilityDiagramPng(series: readonly ReliabilitySeries[], subtitle: string): Promise<Buffer> {
  const bins = series[0]?.summary.bins ?? 10;
  const p = panel({
    left: 70,
    top: 50,
    width: 420,
    height: 420,
    xDomain: [0, 1],
    yDomain: [0, 1],
    title: `Reliability diagram (${bins} equal-width bins)`,
    xLabel: 'mean predicted probability',
    yLabel: 'fraction of positives',
  });
  const body = [...p.svg, ...line(p, [[0, 0], [1, 1]], '#999', { dashed: true })];
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    body.push(...line(p, s.summary.curve.map((b) => [b.meanPredicted, b.fractionPositive] as const), color));
    for (const b of s.summary.curve) {
      const r = 2.5 + 6 * Math.sqrt(b.count / Math.max(1, s.summary.size));
      body.push(`<circle cx="${p.x(b.meanPredicted).toFixed(2)}" cy="${p.y(b.fractionPositive).toFixed(2)}" r="${r.toFixed(2)}" fill="${color}" fill-opacity="0.7"/>`);
    }
  });
  body.push(
    // Below the axes: the curves can pass anywhere in the square.
    ...legend(70, 530, [
      ...series.map((s, i) => ({ label: `${s.label}: ECE ${s.summary.ece.toFixed(4)}, Brier ${s.summary.brier.toFixed(4)}`, color: COLORS[i % COLORS.length] ?? '#000' })),
      { label: 'perfectly calibrated', color: '#999', dashed: true },
    ]),
  );
  body.push(text(280, 530 + (series.length + 1) * 18 + 30, subtitle, { anchor: 'middle', size: 11, fill: '#555' }));
  return renderPng(svgDocument(560, 530 + (series.length + 1) * 18 + 44, body));
}
