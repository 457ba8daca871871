import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { SplitManifestSchema } from '../../common/dataset-manifest.ts';
import { ArtifactNotFoundError } from '../../common/errors.ts';
import type { ObjectStore } from '../object-store.ts';
import { makeReadOnly } from './read-only-tree.ts';
import { stageSplit } from './split-staging.ts';

/**
 * A run step's inputs, staged read-only at `<inputsDir>/<name>` (what the command sees as
 * $MLP_INPUTS/<name>):
 * - a key ending in `/` (a folder output of a run step) → a folder holding every object under it;
 * - a split manifest of `subset` (`datasets/<hash>/splits/<hash>.json`) → a folder of numpy
 *   arrays (split-staging.ts has its layout);
 * - any other key (a file output, a dataset manifest, a model file) → that file.
 */

const SPLIT_MANIFEST_KEY = /^datasets\/[0-9a-f]{64}\/splits\/[0-9a-f]{64}\.json$/;

export interface StagedInput {
  name: string;
  key: string;
  kind: 'file' | 'folder' | 'split';
  /** Files written (for a split: images). */
  count: number;
}

async function downloadTo(store: ObjectStore, key: string, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await pipeline(await store.getStream(key), createWriteStream(path));
}

/** The JSON value of `bytes`, or undefined when they are not JSON (then the object is staged as the file it is). */
function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

async function stageOne(store: ObjectStore, name: string, key: string, path: string): Promise<StagedInput> {
  if (key.endsWith('/')) {
    // Zero-byte "folder" markers some S3 tools write (keys ending in /) are no files.
    const keys = (await store.list(key)).filter((member) => !member.endsWith('/'));
    await mkdir(path, { recursive: true });
    for (const member of keys) await downloadTo(store, member, join(path, ...member.slice(key.length).split('/')));
    return { name, key, kind: 'folder', count: keys.length };
  }
  if (SPLIT_MANIFEST_KEY.test(key)) {
    const bytes = await store.get(key);
    const manifest = SplitManifestSchema.safeParse(parseJson(bytes));
    if (manifest.success) return { name, key, kind: 'split', count: await stageSplit(store, manifest.data, bytes, path) };
  }
  await downloadTo(store, key, path);
  return { name, key, kind: 'file', count: 1 };
}

/** Stages every input and makes it read-only; ArtifactNotFoundError names the input whose object is gone. */
export async function stageInputs(
  store: ObjectStore,
  inputsDir: string,
  inputs: Readonly<Record<string, string>>,
  onStaged?: (staged: StagedInput, done: number, total: number) => void,
): Promise<StagedInput[]> {
  await mkdir(inputsDir, { recursive: true });
  const staged: StagedInput[] = [];
  const entries = Object.entries(inputs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, key] of entries) {
    let input: StagedInput;
    try {
      input = await stageOne(store, name, key, join(inputsDir, name));
    } catch (error) {
      if (!(error instanceof ArtifactNotFoundError)) throw error;
      throw new ArtifactNotFoundError(`Input "${name}" of the run step is gone: ${error.message}`, { cause: error });
    }
    staged.push(input);
    onStaged?.(input, staged.length, entries.length);
  }
  await makeReadOnly(inputsDir, { folders: true });
  return staged;
}
