import { createHash } from 'node:crypto';
import { lstat, readdir, realpath, readlink, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { RunCodeError } from '../../common/errors.ts';

/**
 * Packages a `run` step's code folder into a deterministic tar.gz: the same files give the same
 * bytes, and so the same sha256, whatever the folder's path, mtimes, owner, umask or machine.
 * The sha256 is that of the archive's bytes, so the object `code/<sha256>.tar.gz` names its own
 * content and a worker can verify what it downloaded.
 */

/** Default limit on the folder's file bytes (before compression): 50 MiB. */
export const DEFAULT_CODE_MAX_BYTES = 50 * 1024 * 1024;

/** Names left out at any depth: version control, caches and environments that are not the user's code. */
export const EXCLUDED_CODE_NAMES: ReadonlySet<string> = new Set(['.git', '__pycache__', 'node_modules', '.venv']);

/** Every entry gets this mtime, so touching a file does not change the archive. */
const FIXED_MTIME = new Date(0);

/** Offset of the gzip header's OS byte (RFC 1952); 255 means "unknown", the same on every platform. */
const GZIP_OS_BYTE = 9;
const GZIP_OS_UNKNOWN = 255;

export interface PackageCodeOptions {
  /**
   * Largest total size of the folder's files, in bytes.
   * @default DEFAULT_CODE_MAX_BYTES
   */
  maxBytes?: number;
}

export interface PackagedCode {
  /** sha256 (hex) of `archive`. */
  sha256: string;
  /** The tar.gz bytes. */
  archive: Buffer;
  /** Regular files in the archive (a symlink to a file inside the folder counts as the file it names). */
  files: number;
  /** Their total size before compression. */
  bytes: number;
}

/** One archive entry: a folder, or a file (possibly reached through a symlink inside the folder). */
interface CodeEntry {
  path: string;
  kind: 'directory' | 'file';
  bytes: number;
}

/**
 * Packages `dir` (see the module comment). Throws RunCodeError when the folder is missing, holds a
 * symlink that escapes it (or names a folder, or nothing), holds something that is neither file,
 * folder nor symlink, or is larger than `maxBytes`.
 */
export async function packageCodeFolder(dir: string, options: PackageCodeOptions = {}): Promise<PackagedCode> {
  const maxBytes = options.maxBytes ?? DEFAULT_CODE_MAX_BYTES;
  const root = resolve(dir);
  const rootStat = await stat(root).catch(() => undefined);
  if (!rootStat?.isDirectory()) throw new RunCodeError(`Code folder ${dir} does not exist or is not a folder`);
  const rootReal = await realpath(root);

  const entries = await listCodeEntries(root, rootReal, dir, maxBytes);
  const files = entries.filter((entry) => entry.kind === 'file');
  const bytes = files.reduce((sum, entry) => sum + entry.bytes, 0);

  const tarBytes = await tar
    .create(
      {
        cwd: root,
        portable: true,
        mtime: FIXED_MTIME,
        noDirRecurse: true,
        // Symlinks were checked to name files inside the folder: store those files' content.
        follow: true,
        // A hard-linked file is stored as itself each time: whether two paths share an inode is a
        // property of the disk, not of the code.
        linkCache: new ForgetfulMap(),
      },
      entries.map((entry) => entry.path),
    )
    .concat();
  // A fixed level (zlib's default, 6): the archive's bytes, and so its sha256, depend on it.
  const archive = gzipSync(tarBytes, { level: 6 });
  archive[GZIP_OS_BYTE] = GZIP_OS_UNKNOWN;
  const sha256 = createHash('sha256').update(archive).digest('hex');
  return { sha256, archive, files: files.length, bytes };
}

/** Walks the folder; returns its entries as posix paths in code-unit order (a folder before its contents). */
async function listCodeEntries(root: string, rootReal: string, shownDir: string, maxBytes: number): Promise<CodeEntry[]> {
  const entries: CodeEntry[] = [];
  let bytes = 0;
  const pending = [''];
  while (pending.length > 0) {
    const folder = pending.pop() ?? '';
    for (const dirent of await readdir(join(root, folder), { withFileTypes: true })) {
      if (EXCLUDED_CODE_NAMES.has(dirent.name)) continue;
      const path = folder === '' ? dirent.name : `${folder}/${dirent.name}`;
      const absolute = join(root, path);
      if (dirent.isDirectory()) {
        entries.push({ path, kind: 'directory', bytes: 0 });
        pending.push(path);
        continue;
      }
      let size: number;
      if (dirent.isSymbolicLink()) size = await symlinkedFileSize(absolute, root, rootReal, path, shownDir);
      else if (dirent.isFile()) size = (await lstat(absolute)).size;
      else throw new RunCodeError(`Code folder ${shownDir}: ${path} is not a file, folder or symlink`);
      bytes += size;
      if (bytes > maxBytes) {
        throw new RunCodeError(
          `Code folder ${shownDir} is larger than the limit of ${formatCodeSize(maxBytes)} (reached at ${path}); leave data out of the code folder and pass it as an input`,
        );
      }
      entries.push({ path, kind: 'file', bytes: size });
    }
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The size of the file a symlink names; throws unless that file is inside the folder. */
async function symlinkedFileSize(absolute: string, root: string, rootReal: string, path: string, shownDir: string): Promise<number> {
  const target = await readlink(absolute);
  const lexical = resolve(dirname(absolute), target);
  const real = await realpath(absolute).catch(() => undefined);
  if (!isInside(root, lexical) || (real !== undefined && !isInside(rootReal, real))) {
    throw new RunCodeError(`Code folder ${shownDir}: symlink ${path} -> ${target} points outside the folder`);
  }
  if (real === undefined) throw new RunCodeError(`Code folder ${shownDir}: symlink ${path} -> ${target} points to nothing`);
  const targetStat = await stat(real);
  if (!targetStat.isFile()) {
    throw new RunCodeError(`Code folder ${shownDir}: symlink ${path} -> ${target} names a folder; only symlinks to files are packaged`);
  }
  return targetStat.size;
}

function isInside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** `50 MiB`, `1.5 MiB`, `1024 bytes`. */
export function formatCodeSize(bytes: number): string {
  const mib = 1024 * 1024;
  if (bytes < mib) return `${bytes} bytes`;
  return `${Number((bytes / mib).toFixed(2))} MiB`;
}

/** A Map that never remembers: tar's link cache, so no file is written as a hard link to another. */
class ForgetfulMap<K, V> extends Map<K, V> {
  override set(): this {
    return this;
  }
}
