import { escapeHtml } from './html-text.ts';

/**
 * Line charts as inline SVG for the pages the CLI writes (`mlp compare`): no library, no script,
 * nothing to load. Each series is one run; the legend names it.
 */

export interface ChartSeries {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  /** Fixed axis ranges (ROC: [0, 1]); default: the data's. */
  xDomain?: readonly [number, number];
  yDomain?: readonly [number, number];
  /** A dotted y = x line (chance level of a ROC curve). */
  diagonal?: boolean;
  /** Where the legend goes: a corner the lines leave empty (ROC curves: bottom right). @default 'top-right' */
  legend?: 'top-right' | 'bottom-right';
}

/** Colors told apart by people with the common color-vision deficiencies (Okabe–Ito). */
export const SERIES_COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];

const WIDTH = 520;
const HEIGHT = 320;
const MARGIN = { left: 56, right: 16, top: 28, bottom: 44 };
/** Rough width of one character of the legend's 11 px font, to keep the legend inside the plot. */
const CHAR_WIDTH = 6.2;

function domain(values: readonly number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  return low === high ? [low - 0.5, high + 0.5] : [low, high];
}

/** Four or five round tick values across [low, high]. */
function ticks([low, high]: readonly [number, number]): number[] {
  const raw = (high - low) / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= raw) ?? raw;
  const values: number[] = [];
  for (let value = Math.ceil(low / step) * step; value <= high + step * 1e-9; value += step) values.push(Number(value.toPrecision(12)));
  return values;
}

export function lineChartSvg(chart: LineChart): string {
  const xs = chart.xDomain ?? domain(chart.series.flatMap((series) => series.points.map(([x]) => x)));
  const ys = chart.yDomain ?? domain(chart.series.flatMap((series) => series.points.map(([, y]) => y)));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => MARGIN.left + ((x - xs[0]) / (xs[1] - xs[0])) * plotWidth;
  const sy = (y: number): number => MARGIN.top + plotHeight - ((y - ys[0]) / (ys[1] - ys[0])) * plotHeight;
  const f = (value: number): string => value.toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(chart.title)}">`,
    `<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    `<text x="${WIDTH / 2}" y="16" text-anchor="middle" font-weight="600">${escapeHtml(chart.title)}</text>`,
  ];
  for (const x of ticks(xs)) {
    parts.push(`<line x1="${f(sx(x))}" x2="${f(sx(x))}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#eceff2"/>`);
    parts.push(`<text x="${f(sx(x))}" y="${MARGIN.top + plotHeight + 14}" text-anchor="middle">${escapeHtml(String(x))}</text>`);
  }
  for (const y of ticks(ys)) {
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${f(sy(y))}" y2="${f(sy(y))}" stroke="#eceff2"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${f(sy(y) + 4)}" text-anchor="end">${escapeHtml(String(y))}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#9aa4ae"/>`);
  parts.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 8}" text-anchor="middle">${escapeHtml(chart.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(chart.yLabel)}</text>`);
  if (chart.diagonal) parts.push(`<line x1="${f(sx(xs[0]))}" y1="${f(sy(ys[0]))}" x2="${f(sx(xs[1]))}" y2="${f(sy(ys[1]))}" stroke="#9aa4ae" stroke-dasharray="2 4"/>`);
  const legendWidth = 34 + CHAR_WIDTH * Math.max(0, ...chart.series.map((series) => series.name.length));
  chart.series.forEach((series, index) => {
    const points = series.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => `${f(sx(x))},${f(sy(y))}`);
    if (points.length > 0) {
      parts.push(`<polyline fill="none" stroke="${escapeHtml(series.color)}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ''} points="${points.join(' ')}"/>`);
    }
    const legendY = chart.legend === 'bottom-right' ? MARGIN.top + plotHeight - 8 - (chart.series.length - 1 - index) * 16 : MARGIN.top + 14 + index * 16;
    const legendX = Math.max(MARGIN.left + 8, MARGIN.left + plotWidth - legendWidth);
    parts.push(`<line x1="${legendX}" x2="${legendX + 20}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${escapeHtml(series.color)}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    parts.push(`<text x="${legendX + 26}" y="${legendY}">${escapeHtml(series.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
