import sharp from 'sharp';
import { renderPng, svgDocument, text } from './svg.ts';

/** One test image with its label and the model's positive-class probability. */
export interface SampleTile {
  /** The preprocessed image as stored: one gray channel, `height × width` bytes. */
  image: { gray: Uint8Array; width: number; height: number };
  trueClass: string;
  predictedClass: string;
  probability: number;
}

const TILE = 180;
const CAPTION = 40;

/**
 * A grid of test images captioned with the true label and predicted probability (the seed
 * notebook's last figure); green captions are correct predictions, red ones mistakes.
 */
export async function sampleGridPng(tiles: readonly SampleTile[], positiveClass: string, columns = 4): Promise<Buffer> {
  const rows = Math.max(1, Math.ceil(tiles.length / columns));
  const width = columns * TILE + (columns + 1) * 10;
  const height = 50 + rows * (TILE + CAPTION + 10);
  const body = [text(width / 2, 30, `Sample test images: true label and P(${positiveClass})`, { anchor: 'middle', size: 16, weight: 'bold' })];
  for (const [i, tile] of tiles.entries()) {
    const x = 10 + (i % columns) * (TILE + 10);
    const y = 50 + Math.floor(i / columns) * (TILE + CAPTION + 10);
    const { gray, width: w, height: h } = tile.image;
    const png = await sharp(gray, { raw: { width: w, height: h, channels: 1 } }).resize(TILE, TILE, { fit: 'fill' }).png().toBuffer();
    const correct = tile.trueClass === tile.predictedClass;
    body.push(`<image x="${x}" y="${y}" width="${TILE}" height="${TILE}" xlink:href="data:image/png;base64,${png.toString('base64')}"/>`);
    body.push(text(x + TILE / 2, y + TILE + 16, `true: ${tile.trueClass}`, { anchor: 'middle', size: 12 }));
    body.push(text(x + TILE / 2, y + TILE + 32, `P = ${tile.probability.toFixed(3)} → ${tile.predictedClass}`, { anchor: 'middle', size: 12, weight: 'bold', fill: correct ? '#1a7f37' : '#c62828' }));
  }
  return renderPng(svgDocument(width, height, body));
}
