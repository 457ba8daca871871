import sharp from 'sharp';

/**
 * Minimal SVG building blocks for the evaluation plots, rendered to PNG by sharp (librsvg), so
 * no browser or canvas package is needed. Text uses DejaVu Sans, the font the worker images
 * install (fontconfig falls back to any sans-serif font when it is missing).
 */

export const FONT = 'DejaVu Sans, Verdana, sans-serif';
export const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'] as const;

/** Escapes text for SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

export interface TextOptions {
  size?: number;
  anchor?: 'start' | 'middle' | 'end';
  weight?: 'normal' | 'bold';
  fill?: string;
  rotate?: number;
}

export function text(x: number, y: number, content: string, options: TextOptions = {}): string {
  const { size = 12, anchor = 'start', weight = 'normal', fill = '#222', rotate } = options;
  const transform = rotate === undefined ? '' : ` transform="rotate(${rotate} ${x} ${y})"`;
  return `<text x="${x}" y="${y}" font-family="${FONT}" font-size="${size}" font-weight="${weight}" text-anchor="${anchor}" fill="${fill}"${transform}>${escapeXml(content)}</text>`;
}

/** A whole SVG document with a white background. */
export function svgDocument(width: number, height: number, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
  ].join('\n');
}

export async function renderPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Linear map from a data interval onto a pixel interval. */
export function scale(domain: readonly [number, number], range: readonly [number, number]): (value: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0 || 1;
  return (value) => r0 + ((value - d0) / span) * (r1 - r0);
}

/** About `count` round tick values covering [min, max]. */
export function ticks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const values: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) values.push(Number(v.toPrecision(12)));
  return values;
}

export function formatTick(value: number): string {
  return Math.abs(value) >= 1000 || (Math.abs(value) < 0.01 && value !== 0) ? value.toExponential(1) : String(Number(value.toPrecision(3)));
}

/** A rectangular plotting area with axes, ticks, grid and labels. */
export interface Panel {
  x: (value: number) => number;
  y: (value: number) => number;
  svg: string[];
}

export interface PanelOptions {
  left: number;
  top: number;
  width: number;
  height: number;
  xDomain: [number, number];
  yDomain: [number, number];
  title: string;
  xLabel: string;
  yLabel: string;
  xTicks?: number[];
}

export function panel(options: PanelOptions): Panel {
  const { left, top, width, height, xDomain, yDomain } = options;
  const x = scale(xDomain, [left, left + width]);
  const y = scale(yDomain, [top + height, top]);
  const svg: string[] = [`<rect x="${left}" y="${top}" width="${width}" height="${height}" fill="none" stroke="#444"/>`];
  for (const value of options.xTicks ?? ticks(...xDomain)) {
    svg.push(`<line x1="${x(value)}" y1="${top}" x2="${x(value)}" y2="${top + height}" stroke="#e5e5e5"/>`);
    svg.push(text(x(value), top + height + 16, formatTick(value), { anchor: 'middle', size: 11 }));
  }
  for (const value of ticks(...yDomain)) {
    svg.push(`<line x1="${left}" y1="${y(value)}" x2="${left + width}" y2="${y(value)}" stroke="#e5e5e5"/>`);
    svg.push(text(left - 6, y(value) + 4, formatTick(value), { anchor: 'end', size: 11 }));
  }
  svg.push(text(left + width / 2, top - 10, options.title, { anchor: 'middle', size: 14, weight: 'bold' }));
  svg.push(text(left + width / 2, top + height + 36, options.xLabel, { anchor: 'middle', size: 12 }));
  svg.push(text(left - 44, top + height / 2, options.yLabel, { anchor: 'middle', size: 12, rotate: -90 }));
  return { x, y, svg };
}

/** A polyline through data points (skipping non-finite values). */
export function line(p: Panel, points: ReadonlyArray<readonly [number, number]>, color: string, options: { dashed?: boolean; markers?: boolean } = {}): string[] {
  const finite = points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
  if (finite.length === 0) return [];
  const path = finite.map(([a, b]) => `${p.x(a).toFixed(2)},${p.y(b).toFixed(2)}`).join(' ');
  const dash = options.dashed ? ' stroke-dasharray="6 4"' : '';
  const out = [`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`];
  if (options.markers) for (const [a, b] of finite) out.push(`<circle cx="${p.x(a).toFixed(2)}" cy="${p.y(b).toFixed(2)}" r="3" fill="${color}"/>`);
  return out;
}

/** A legend box: one line sample and label per entry. */
export function legend(left: number, top: number, entries: ReadonlyArray<{ label: string; color: string; dashed?: boolean }>): string[] {
  const width = 18 + Math.max(...entries.map((e) => e.label.length)) * 7 + 14;
  const out = [`<rect x="${left}" y="${top}" width="${width}" height="${entries.length * 18 + 8}" fill="#ffffff" fill-opacity="0.9" stroke="#bbb"/>`];
  entries.forEach((entry, i) => {
    const y = top + 14 + i * 18;
    const dash = entry.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<line x1="${left + 6}" y1="${y - 4}" x2="${left + 24}" y2="${y - 4}" stroke="${entry.color}" stroke-width="2"${dash}/>`);
    out.push(text(left + 30, y, entry.label, { size: 11 }));
  });
  return out;
}
