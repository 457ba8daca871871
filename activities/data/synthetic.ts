import { createWriteStream } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import sharp from 'sharp';
import yazl from 'yazl';
import type { DatasetSplit } from '../../common/dataset-manifest.ts';
import { createRandom, type Random } from '../../common/prng.ts';

export const SYNTHETIC_CLASSES = ['NORMAL', 'PNEUMONIA'] as const;
export type SyntheticClass = (typeof SYNTHETIC_CLASSES)[number];

export interface SyntheticDatasetOptions {
  /** Folder to write into; the dataset lands in `<dir>/<wrapper>/{split}/{CLASS}/`. */
  dir: string;
  seed: number | string;
  /** Images per split and class, e.g. `{ train: { NORMAL: 20, PNEUMONIA: 30 } }`. */
  counts: Partial<Record<DatasetSplit, Partial<Record<SyntheticClass, number>>>>;
  /** Side of the square images. @default 64 */
  size?: number;
  /** Wrapper folder, as in the real archive. @default 'chest_xray' */
  wrapper?: string;
}

/**
 * X-ray-like grayscale image: dark background, a bright body with two darker lung fields and
 * rib stripes, film noise. PNEUMONIA adds one or two bright, soft opacities inside a lung, which
 * a small CNN learns in a few epochs. Deterministic in (seed, class, index).
 */
export function syntheticXray(seed: number | string, cls: SyntheticClass, index: number, size: number): Buffer {
  const random = createRandom('synthetic-xray', seed, cls, index);
  const pixels = Buffer.alloc(size * size);
  const opacities = cls === 'PNEUMONIA' ? Array.from({ length: 1 + Math.floor(random() * 2) }, () => opacity(random)) : [];
  const shiftX = (random() - 0.5) * 0.06;
  const ribPhase = random() * Math.PI * 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size - 0.5 - shiftX;
      const v = y / size - 0.5;
      let value = 20;
      if ((u / 0.42) ** 2 + (v / 0.48) ** 2 < 1) value = 170; // body
      const lung = Math.min(((Math.abs(u) - 0.17) / 0.12) ** 2 + ((v + 0.02) / 0.3) ** 2, 2);
      if (lung < 1) {
        value = 70 + 25 * Math.sin(v * 40 + ribPhase) ** 2; // lung field with ribs
        for (const o of opacities) {
          const d = ((u - o.u) ** 2 + (v - o.v) ** 2) / o.r ** 2;
          value += o.strength * Math.exp(-d);
        }
      }
      if (Math.abs(u) < 0.04 && v > -0.45) value = Math.max(value, 200); // spine
      value += (random() - 0.5) * 30;
      pixels[y * size + x] = Math.max(0, Math.min(255, Math.round(value)));
    }
  }
  return pixels;
}

function opacity(random: Random): { u: number; v: number; r: number; strength: number } {
  const side = random() < 0.5 ? -1 : 1;
  return { u: side * (0.17 + (random() - 0.5) * 0.1), v: (random() - 0.5) * 0.3, r: 0.06 + random() * 0.05, strength: 70 + random() * 40 };
}

/** Writes JPEGs in the real dataset's layout; returns the dataset folder (below `dir`). */
export async function writeSyntheticDataset(options: SyntheticDatasetOptions): Promise<string> {
  const { dir, seed, counts, size = 64, wrapper = 'chest_xray' } = options;
  const root = join(dir, wrapper);
  for (const [split, perClass] of Object.entries(counts)) {
    for (const cls of SYNTHETIC_CLASSES) {
      const count = perClass?.[cls] ?? 0;
      const folder = join(root, split, cls);
      await mkdir(folder, { recursive: true });
      for (let i = 0; i < count; i++) {
        // Index spans splits so the same image never appears in two splits.
        const index = `${split}-${i}`;
        const raw = syntheticXray(seed, cls, hashIndex(index), size);
        const jpeg = await sharp(raw, { raw: { width: size, height: size, channels: 1 } })
          .toColourspace('b-w')
          .jpeg({ quality: 90 })
          .toBuffer();
        await writeFile(join(folder, `${cls.toLowerCase()}-${String(i).padStart(4, '0')}.jpeg`), jpeg);
      }
    }
  }
  return root;
}

function hashIndex(text: string): number {
  return Math.floor(createRandom(text)() * 2 ** 31);
}

/** Zips a folder with sorted entries and a fixed timestamp, so equal folders give equal zips. */
export async function zipFolder(dir: string, zipPath: string): Promise<void> {
  const zip = new yazl.ZipFile();
  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
  for (const file of files) {
    zip.addFile(file, relative(dir, file).split('\\').join('/'), { mtime: new Date(Date.UTC(2020, 0, 1)), compress: false });
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(zipPath));
}
