import { renderPng, svgDocument, text } from './svg.ts';

/** Heatmap of a confusion matrix (rows: true class, columns: predicted), with the count in each cell. */
export async function confusionMatrixPng(matrix: readonly (readonly number[])[], classNames: readonly string[], subtitle: string): Promise<Buffer> {
  const n = classNames.length;
  const cell = Math.max(60, Math.min(140, Math.floor(420 / n)));
  const left = 150;
  const top = 80;
  const width = left + n * cell + 40;
  const height = top + n * cell + 80;
  const max = Math.max(1, ...matrix.flat());
  const body: string[] = [
    text(width / 2, 26, 'Confusion matrix', { anchor: 'middle', size: 16, weight: 'bold' }),
    text(width / 2, 46, subtitle, { anchor: 'middle', size: 12, fill: '#555' }),
  ];
  classNames.forEach((name, row) => {
    body.push(text(left - 8, top + row * cell + cell / 2 + 4, name, { anchor: 'end', size: 12 }));
    body.push(text(left + row * cell + cell / 2, top + n * cell + 18, name, { anchor: 'middle', size: 12 }));
    for (let column = 0; column < n; column++) {
      const count = matrix[row]?.[column] ?? 0;
      const shade = count / max;
      // Blue ramp from near-white to dark; white text on dark cells keeps counts readable.
      const fill = `rgb(${Math.round(247 - shade * 239)},${Math.round(251 - shade * 203)},${Math.round(255 - shade * 148)})`;
      body.push(`<rect x="${left + column * cell}" y="${top + row * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#fff"/>`);
      body.push(text(left + column * cell + cell / 2, top + row * cell + cell / 2 + 7, String(count), { anchor: 'middle', size: 20, weight: 'bold', fill: shade > 0.5 ? '#fff' : '#111' }));
    }
  });
  body.push(text(left + (n * cell) / 2, top + n * cell + 44, 'predicted class', { anchor: 'middle', size: 13 }));
  body.push(text(24, top + (n * cell) / 2, 'true class', { anchor: 'middle', size: 13, rotate: -90 }));
  return renderPng(svgDocument(width, height, body));
}
