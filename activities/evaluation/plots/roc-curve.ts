import type { RocPoint } from '../metrics.ts';
import { COLORS, legend, line, panel, renderPng, svgDocument } from './svg.ts';

/** ROC curve with its AUC in the legend, the chance diagonal, and the operating point at the threshold. */
export async function rocCurvePng(curve: readonly RocPoint[], auc: number, operatingPoint: { fpr: number; tpr: number; threshold: number }): Promise<Buffer> {
  const p = panel({ left: 70, top: 40, width: 420, height: 420, xDomain: [0, 1], yDomain: [0, 1], title: 'ROC curve (test split)', xLabel: 'false positive rate (1 − specificity)', yLabel: 'true positive rate (sensitivity)' });
  const body = [
    ...p.svg,
    ...line(p, [[0, 0], [1, 1]], '#999', { dashed: true }),
    ...line(p, curve.map((point) => [point.fpr, point.tpr] as const), COLORS[0]),
    `<circle cx="${p.x(operatingPoint.fpr)}" cy="${p.y(operatingPoint.tpr)}" r="6" fill="none" stroke="${COLORS[3]}" stroke-width="2"/>`,
    ...legend(p.x(0.42), p.y(0.2), [
      { label: `ROC, AUC = ${auc.toFixed(4)}`, color: COLORS[0] },
      { label: `threshold ${operatingPoint.threshold.toFixed(3)}`, color: COLORS[3] },
      { label: 'chance', color: '#999', dashed: true },
    ]),
  ];
  return renderPng(svgDocument(530, 520, body));
}
