import { chmod, lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Read-only folders for what a user's command must not change (its staged inputs, the shared
 * unpacked code), and their removal: a folder without write permission cannot be emptied, so
 * `removeTree` gives it back first.
 */

/** Removes write permission from every file under `root` (and from the folders too when `folders`); execute bits stay. */
export async function makeReadOnly(root: string, options: { folders: boolean }): Promise<void> {
  const info = await lstat(root);
  if (info.isSymbolicLink()) return;
  if (info.isDirectory()) {
    for (const entry of await readdir(root)) await makeReadOnly(join(root, entry), options);
    if (options.folders) await chmod(root, info.mode & 0o555);
    return;
  }
  await chmod(root, info.mode & 0o555);
}

async function makeFoldersWritable(root: string): Promise<void> {
  let info;
  try {
    info = await lstat(root);
  } catch {
    return;
  }
  if (!info.isDirectory()) return;
  await chmod(root, info.mode | 0o700);
  for (const entry of await readdir(root)) await makeFoldersWritable(join(root, entry));
}

/** Removes a folder made read-only by `makeReadOnly` (or not); nothing when it does not exist. */
export async function removeTree(root: string): Promise<void> {
  await makeFoldersWritable(root);
  await rm(root, { recursive: true, force: true });
}
