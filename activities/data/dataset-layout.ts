import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DATASET_SPLITS, type DatasetSplit } from '../../common/dataset-manifest.ts';
import { DatasetError } from '../../common/index.ts';

/** A file found in a `{split}/{CLASS}/` folder, not yet checked. */
export interface CandidateFile {
  /** Path under the dataset root with `/` separators, original case kept. */
  path: string;
  absolutePath: string;
  split: DatasetSplit;
  class: string;
}

export interface DatasetLayout {
  /** Folder holding the split folders (below any wrapper folders such as `chest_xray/`). */
  root: string;
  classes: string[];
  /** Every split/class folder found, including empty ones, as `split/CLASS`. */
  folders: { split: DatasetSplit; class: string; path: string }[];
  files: CandidateFile[];
  /** Files in places that cannot carry a label (directly in a split folder, nested deeper). */
  misplaced: string[];
}

const MAX_WRAPPER_DEPTH = 4;

function isHidden(name: string): boolean {
  return name.startsWith('.') || name === '__MACOSX';
}

function splitOf(name: string): DatasetSplit | undefined {
  const lower = name.toLowerCase();
  return DATASET_SPLITS.find((split) => split === lower);
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function subdirectories(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && !isHidden(e.name)).map((e) => e.name).sort(byCodePoint);
}

/**
 * Finds the shallowest folder holding `train`/`val`/`test` folders (any case), below at most
 * four wrapper folders. Two candidates at the same depth are ambiguous and rejected.
 */
export async function findDatasetRoot(dir: string, source: string): Promise<string> {
  let level = [dir];
  for (let depth = 0; depth <= MAX_WRAPPER_DEPTH && level.length > 0; depth++) {
    const roots: string[] = [];
    const next: string[] = [];
    for (const candidate of level) {
      const children = await subdirectories(candidate);
      if (children.some((child) => splitOf(child) !== undefined)) roots.push(candidate);
      else next.push(...children.map((child) => join(candidate, child)));
    }
    if (roots.length > 1) {
      throw new DatasetError(`Ambiguous dataset layout in ${source}: split folders in both ${roots.join(' and ')}`);
    }
    if (roots[0] !== undefined) return roots[0];
    level = next;
  }
  throw new DatasetError(`No {train,val,test}/<CLASS> folders found in ${source}`);
}

/** Lists split and class folders and the files in them, sorted, without reading any file. */
export async function scanDatasetLayout(dir: string, source: string): Promise<DatasetLayout> {
  const root = await findDatasetRoot(dir, source);
  const seenSplits = new Map<DatasetSplit, string>();
  const folders: DatasetLayout['folders'] = [];
  const files: CandidateFile[] = [];
  const misplaced: string[] = [];
  for (const splitName of await subdirectories(root)) {
    const split = splitOf(splitName);
    if (split === undefined) continue;
    const previous = seenSplits.get(split);
    if (previous !== undefined) {
      throw new DatasetError(`Dataset ${source} has two ${split} folders: "${previous}" and "${splitName}"`);
    }
    seenSplits.set(split, splitName);
    for (const entry of await readdir(join(root, splitName), { withFileTypes: true })) {
      if (isHidden(entry.name)) continue;
      if (!entry.isDirectory()) {
        misplaced.push(`${splitName}/${entry.name}`);
        continue;
      }
      const classDir = join(root, splitName, entry.name);
      folders.push({ split, class: entry.name, path: `${splitName}/${entry.name}` });
      for (const file of await readdir(classDir, { withFileTypes: true })) {
        if (isHidden(file.name)) continue;
        const path = `${splitName}/${entry.name}/${file.name}`;
        if (!file.isFile()) misplaced.push(path);
        else files.push({ path, absolutePath: join(classDir, file.name), split, class: entry.name });
      }
    }
  }
  const classes = [...new Set(folders.map((f) => f.class))].sort(byCodePoint);
  if (classes.length === 0) {
    throw new DatasetError(`No class folders found under the split folders of ${source} (expected e.g. train/NORMAL)`);
  }
  if (classes.length < 2) {
    throw new DatasetError(`Dataset ${source} has only one class (${classes.join()}): classification needs at least two`);
  }
  folders.sort((a, b) => byCodePoint(a.path, b.path));
  files.sort((a, b) => byCodePoint(a.path, b.path));
  misplaced.sort(byCodePoint);
  return { root, classes, folders, files, misplaced };
}
