import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { RunContractError } from '../../common/errors.ts';
import { unsafeObjectKeyReason } from '../../common/object-keys.ts';
import type { RunArtifact, RunOutputType } from '../../common/step-kinds/run.ts';
import { listingSha256, type ListedFile } from '../content-hash.ts';
import { fileDigests } from '../data/file-hash.ts';
import { SHA256_METADATA_KEY, type ObjectStore } from '../object-store.ts';

/**
 * What the command left in $MLP_OUTPUTS, checked whole before anything is uploaded (so a broken
 * contract leaves nothing half-written), then stored content-addressed: a file output at
 * `artifacts/<sha256>/<name>`, a folder output under `artifacts/<listing sha256>/` (the listing
 * hash of content-hash.ts). Same content, same key: an unchanged output is not uploaded again.
 */

interface CollectedFile extends ListedFile {
  /** Where the bytes are on disk (a symlink's target). */
  source: string;
  bytes: number;
}

interface CollectedOutput {
  name: string;
  type: RunOutputType;
  files: CollectedFile[];
}

/** Resolves a symlink, refusing one that leaves $MLP_OUTPUTS. */
async function followLink(outputsRoot: string, path: string, shown: string): Promise<string> {
  let target: string;
  try {
    target = await realpath(path);
  } catch {
    throw new RunContractError(`Output ${shown} is a symlink to "${await readlink(path)}", which does not exist`);
  }
  const inside = relative(outputsRoot, target);
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || inside.startsWith(sep)) {
    throw new RunContractError(`Output ${shown} is a symlink to ${target}, outside $MLP_OUTPUTS: outputs must be inside $MLP_OUTPUTS`);
  }
  return target;
}

async function describeFile(outputsRoot: string, path: string, shown: string): Promise<{ source: string; sha256: string; bytes: number }> {
  let source = path;
  let info = await lstat(path);
  if (info.isSymbolicLink()) {
    source = await followLink(outputsRoot, path, shown);
    info = await lstat(source);
  }
  if (!info.isFile()) throw new RunContractError(`Output ${shown} is ${info.isDirectory() ? 'a folder' : 'not a regular file'}, expected a file`);
  const { sha256, bytes } = await fileDigests(source);
  return { source, sha256, bytes };
}

async function collectFolder(outputsRoot: string, folder: string, shown: string, prefix = ''): Promise<CollectedFile[]> {
  const files: CollectedFile[] = [];
  for (const entry of (await readdir(folder)).sort()) {
    const path = join(folder, entry);
    const inner = `${prefix}${entry}`;
    const where = `${shown}/${inner}`;
    const info = await lstat(path);
    if (info.isDirectory()) {
      files.push(...(await collectFolder(outputsRoot, path, shown, `${inner}/`)));
      continue;
    }
    if (info.isSymbolicLink() && (await lstat(await followLink(outputsRoot, path, where))).isDirectory()) {
      throw new RunContractError(`Output ${where} is a symlink to a folder: copy the folder instead`);
    }
    const unsafe = unsafeObjectKeyReason(inner);
    if (unsafe !== undefined) throw new RunContractError(`Output ${where}: its name cannot be stored (${unsafe})`);
    files.push({ path: inner, ...(await describeFile(outputsRoot, path, where)) });
  }
  return files;
}

async function collectOutput(outputsRoot: string, name: string, type: RunOutputType): Promise<CollectedOutput> {
  const path = join(outputsRoot, name);
  const shown = `"${name}" ($MLP_OUTPUTS/${name})`;
  let info;
  try {
    info = await lstat(path);
  } catch {
    throw new RunContractError(`Declared output ${shown} was not written: the command must write a ${type === 'file' ? 'file' : 'folder'} there`);
  }
  if (type === 'file') {
    return { name, type, files: [{ path: name, ...(await describeFile(outputsRoot, path, shown)) }] };
  }
  let folder = path;
  if (info.isSymbolicLink()) {
    folder = await followLink(outputsRoot, path, shown);
    info = await lstat(folder);
  }
  if (!info.isDirectory()) throw new RunContractError(`Declared output ${shown} is a file, but it is declared as a directory`);
  return { name, type, files: await collectFolder(outputsRoot, folder, shown) };
}

async function uploadFile(store: ObjectStore, key: string, file: CollectedFile): Promise<void> {
  const stored = await store.stat(key);
  if (stored !== undefined && stored.metadata[SHA256_METADATA_KEY] === file.sha256) return;
  await store.put(key, createReadStream(file.source), 'application/octet-stream', { [SHA256_METADATA_KEY]: file.sha256 });
}

export interface UploadedOutputs {
  /** Object key of each declared output, by name (what `steps.<id>.outputs.<name>` resolves to). */
  keys: Record<string, string>;
  artifacts: Record<string, RunArtifact>;
  /** Entries in $MLP_OUTPUTS that no output declares (left alone; worth a warning). */
  undeclared: string[];
}

/** Checks every declared output (RunContractError naming the first problem), then uploads them. */
export async function uploadOutputs(store: ObjectStore, outputsDir: string, declared: Readonly<Record<string, RunOutputType>>): Promise<UploadedOutputs> {
  const outputsRoot = await realpath(outputsDir);
  const collected: CollectedOutput[] = [];
  for (const [name, type] of Object.entries(declared).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    collected.push(await collectOutput(outputsRoot, name, type));
  }
  const undeclared = (await readdir(outputsRoot)).filter((entry) => !Object.hasOwn(declared, entry)).sort();

  const keys: Record<string, string> = {};
  const artifacts: Record<string, RunArtifact> = {};
  for (const output of collected) {
    const bytes = output.files.reduce((sum, file) => sum + file.bytes, 0);
    if (output.type === 'file') {
      const [file] = output.files;
      if (file === undefined) continue;
      const key = `artifacts/${file.sha256}/${output.name}`;
      await uploadFile(store, key, file);
      keys[output.name] = key;
      artifacts[output.name] = { type: 'file', key, sha256: file.sha256, bytes };
    } else {
      const sha256 = listingSha256(output.files);
      const prefix = `artifacts/${sha256}/`;
      for (const file of output.files) await uploadFile(store, `${prefix}${file.path}`, file);
      keys[output.name] = prefix;
      artifacts[output.name] = { type: 'directory', key: prefix, sha256, bytes };
    }
  }
  return { keys, artifacts, undeclared };
}
