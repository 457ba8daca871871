import { symlink, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar';
import yazl from 'yazl';

/** One entry of a test zip. */
export interface ZipEntry {
  name: string;
  data: Buffer | string;
  /** Unix mode, e.g. `0o120777` for a symlink. */
  mode?: number;
  compress?: boolean;
}

/** Builds a zip in memory with yazl (which itself refuses unsafe names: see `renameEntry`). */
export async function buildZip(entries: ZipEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const entry of entries) {
    const data = typeof entry.data === 'string' ? Buffer.from(entry.data) : entry.data;
    zip.addBuffer(data, entry.name, { mode: entry.mode, compress: entry.compress ?? false, mtime: new Date(Date.UTC(2020, 0, 1)) });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Rewrites an entry name in both the local header and the central directory: how tests make a
 * zip-slip (`../x`) or absolute (`/x`) entry that no well-behaved writer would produce.
 * Names must have equal length.
 */
export function renameEntry(zip: Buffer, from: string, to: string): Buffer {
  if (from.length !== to.length) throw new Error('renameEntry needs names of equal length');
  const out = Buffer.from(zip);
  const needle = Buffer.from(from);
  let found = 0;
  for (let at = out.indexOf(needle); at !== -1; at = out.indexOf(needle, at + 1)) {
    out.write(to, at, 'latin1');
    found += 1;
  }
  if (found < 2) throw new Error(`entry ${from} not found in both headers`);
  return out;
}

/** A tar.gz holding `files` plus a symlink `link -> target`, made with the real `tar` package. */
export async function buildTarGzWithSymlink(dir: string, tarPath: string, target: string): Promise<void> {
  const src = join(dir, 'tar-src');
  await mkdir(join(src, 'train', 'A'), { recursive: true });
  await writeFile(join(src, 'train', 'A', 'a.txt'), 'a');
  await symlink(target, join(src, 'train', 'A', 'link'));
  await tar.c({ gzip: true, file: tarPath, cwd: src, portable: true }, ['train']);
}
