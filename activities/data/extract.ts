import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import { ArchiveError } from '../../common/index.ts';

/** Limits that stop hostile or broken archives before they fill the disk. */
export interface ExtractLimits {
  /** Total uncompressed bytes. @default 16 GiB */
  maxTotalBytes: number;
  /** Number of file entries. @default 200_000 */
  maxEntries: number;
  /**
   * Largest uncompressed/compressed ratio of one zip entry (or of a whole tar.gz). JPEGs are
   * about 1; text about 5–10; zip bombs 1000 and more. @default 100
   */
  maxCompressionRatio: number;
}

export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = {
  maxTotalBytes: 16 * 1024 ** 3,
  maxEntries: 200_000,
  maxCompressionRatio: 100,
};

/** Entries this small are not judged by ratio: a few KiB of zeros is no bomb. */
const RATIO_MIN_BYTES = 1024 * 1024;

export interface ExtractResult {
  files: number;
  bytes: number;
  /** Entries skipped on purpose (`__MACOSX/`, dot-files). */
  skipped: number;
}

export type ArchiveFormat = 'zip' | 'tar.gz' | 'tar';

/** Recognizes an archive by its first bytes (names lie; URLs often have none). */
export async function detectArchiveFormat(path: string): Promise<ArchiveFormat | undefined> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(262);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    if (bytesRead >= 4 && head.readUInt32LE(0) === 0x04034b50) return 'zip';
    if (bytesRead >= 4 && head.readUInt32LE(0) === 0x06054b50) return 'zip'; // empty zip
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
    if (bytesRead >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
    return undefined;
  } finally {
    await file.close();
  }
}

/**
 * Extracts a zip or tar(.gz) into `targetDir`, refusing anything unsafe: entries that escape the
 * target, symlinks and hard links, device files, and archives over the limits. Skips `__MACOSX/`
 * and dot-files. Throws `ArchiveError` naming the archive and the entry.
 */
export async function extractArchive(
  archivePath: string,
  targetDir: string,
  limits: ExtractLimits = DEFAULT_EXTRACT_LIMITS,
  onProgress?: (progress: { files: number; bytes: number }) => void,
  /** What messages call the archive, e.g. its URL: the local copy's scratch path means nothing to a user. @default archivePath */
  source: string = archivePath,
): Promise<ExtractResult> {
  try {
    const format = await detectArchiveFormat(archivePath);
    if (format === 'zip') return await extractZip(archivePath, targetDir, new Budget(archivePath, limits, onProgress));
    if (format === 'tar.gz' || format === 'tar') return await extractTar(archivePath, targetDir, new Budget(archivePath, limits, onProgress), format);
    throw new ArchiveError(`Cannot extract ${archivePath}: not a zip, tar or tar.gz archive`);
  } catch (error) {
    if (source === archivePath || !(error instanceof ArchiveError)) throw error;
    throw new ArchiveError(error.message.replaceAll(archivePath, source), { cause: error });
  }
}

/** Checks one entry path; returns the safe relative path, or `undefined` to skip it. */
export function safeEntryPath(archive: string, rawName: string): string | undefined {
  const name = rawName.replace(/\\/g, '/');
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) {
    throw new ArchiveError(`Unsafe entry in ${archive}: absolute path "${rawName}"`);
  }
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) {
    throw new ArchiveError(`Unsafe entry in ${archive}: "${rawName}" escapes the target folder`);
  }
  if (parts.length === 0) return undefined;
  if (parts[0] === '__MACOSX' || parts.some((part) => part.startsWith('.'))) return undefined;
  return parts.join('/');
}

class Budget {
  files = 0;
  bytes = 0;
  skipped = 0;
  constructor(
    readonly archive: string,
    readonly limits: ExtractLimits,
    readonly onProgress?: (progress: { files: number; bytes: number }) => void,
  ) {}

  addFile(entry: string, declaredBytes: number): void {
    this.files += 1;
    this.onProgress?.({ files: this.files, bytes: this.bytes });
    if (this.files > this.limits.maxEntries) {
      throw new ArchiveError(`Archive ${this.archive} has more than ${this.limits.maxEntries} entries (at "${entry}")`);
    }
    this.#checkBytes(entry, this.bytes + declaredBytes);
  }

  /** Counts bytes actually written: headers can lie about sizes. */
  addBytes(entry: string, count: number): void {
    this.bytes += count;
    this.#checkBytes(entry, this.bytes);
  }

  #checkBytes(entry: string, total: number): void {
    if (total > this.limits.maxTotalBytes) {
      throw new ArchiveError(
        `Archive ${this.archive} expands to more than ${this.limits.maxTotalBytes} bytes (at "${entry}")`,
      );
    }
  }
}

async function extractZip(archivePath: string, targetDir: string, budget: Budget): Promise<ExtractResult> {
  let zip: yauzl.ZipFile;
  try {
    // validateEntrySizes makes yauzl fail when an entry inflates to other than its declared size.
    zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.open(archivePath, { lazyEntries: true, autoClose: true, validateEntrySizes: true }, (error, file) =>
        error ? reject(error) : resolve(file),
      ),
    );
  } catch (error) {
    throw new ArchiveError(`Cannot read zip archive ${archivePath}: truncated or corrupt (${messageOf(error)})`);
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (error: unknown): void => {
        zip.close();
        reject(error);
      };
      zip.on('error', fail);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        handleZipEntry(zip, entry, archivePath, targetDir, budget).then(() => zip.readEntry(), fail);
      });
      zip.readEntry();
    });
  } catch (error) {
    if (error instanceof ArchiveError || isSystemError(error)) throw error;
    const text = messageOf(error);
    if (/invalid relative path|absolute path|invalid characters in fileName/.test(text)) {
      throw new ArchiveError(`Unsafe entry in ${archivePath}: ${text}`);
    }
    throw new ArchiveError(`Cannot read zip archive ${archivePath}: truncated or corrupt (${text})`);
  }
  return { files: budget.files, bytes: budget.bytes, skipped: budget.skipped };
}

async function handleZipEntry(
  zip: yauzl.ZipFile,
  entry: yauzl.Entry,
  archivePath: string,
  targetDir: string,
  budget: Budget,
): Promise<void> {
  const relative = safeEntryPath(archivePath, entry.fileName);
  // Unix mode lives in the high 16 bits of the external attributes when made on Unix.
  const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
  if (mode === 0o120000) {
    throw new ArchiveError(`Refusing symlink entry "${entry.fileName}" in ${archivePath}`);
  }
  if (relative === undefined) {
    budget.skipped += 1;
    return;
  }
  if (entry.fileName.endsWith('/')) {
    await mkdir(join(targetDir, relative), { recursive: true });
    return;
  }
  if (mode !== 0 && mode !== 0o100000) {
    throw new ArchiveError(`Refusing special file entry "${entry.fileName}" in ${archivePath}`);
  }
  budget.addFile(entry.fileName, entry.uncompressedSize);
  const ratio = entry.uncompressedSize / Math.max(1, entry.compressedSize);
  if (entry.uncompressedSize >= RATIO_MIN_BYTES && ratio > budget.limits.maxCompressionRatio) {
    throw new ArchiveError(
      `Refusing entry "${entry.fileName}" in ${archivePath}: compression ratio ${Math.round(ratio)} exceeds ${budget.limits.maxCompressionRatio} (zip bomb?)`,
    );
  }
  const destination = join(targetDir, relative);
  await mkdir(dirname(destination), { recursive: true });
  const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
    zip.openReadStream(entry, (error, readStream) => (error ? reject(error) : resolve(readStream))),
  );
  stream.on('data', (chunk: Buffer) => budget.addBytes(entry.fileName, chunk.length));
  await pipeline(stream, createWriteStream(destination));
}

async function extractTar(archivePath: string, targetDir: string, budget: Budget, format: 'tar' | 'tar.gz'): Promise<ExtractResult> {
  const { limits } = budget;
  const compressedBytes = Math.max(1, (await stat(archivePath)).size);
  const pending: Promise<void>[] = [];
  let failure: unknown;
  const parser = new Parser({ strict: true });
  const fail = (error: unknown): void => {
    failure ??= error;
    parser.abort(error instanceof Error ? error : new Error(String(error)));
  };
  parser.on('entry', (entry: ReadEntry) => {
    if (failure !== undefined) {
      entry.resume();
      return;
    }
    try {
      const relative = safeEntryPath(archivePath, entry.path);
      if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
        throw new ArchiveError(`Refusing ${entry.type === 'Link' ? 'hard link' : 'symlink'} entry "${entry.path}" in ${archivePath}`);
      }
      if (relative === undefined) {
        budget.skipped += 1;
        entry.resume();
        return;
      }
      if (entry.type === 'Directory') {
        entry.resume();
        pending.push(mkdir(join(targetDir, relative), { recursive: true }).then(() => undefined));
        return;
      }
      if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile') {
        throw new ArchiveError(`Refusing special entry "${entry.path}" (${entry.type}) in ${archivePath}`);
      }
      budget.addFile(entry.path, entry.size ?? 0);
      if (format === 'tar.gz' && budget.bytes + (entry.size ?? 0) >= RATIO_MIN_BYTES) {
        const ratio = (budget.bytes + (entry.size ?? 0)) / compressedBytes;
        if (ratio > limits.maxCompressionRatio) {
          throw new ArchiveError(
            `Refusing ${archivePath}: compression ratio over ${limits.maxCompressionRatio} at "${entry.path}" (gzip bomb?)`,
          );
        }
      }
      const destination = join(targetDir, relative);
      entry.on('data', (chunk: Buffer) => budget.addBytes(entry.path, chunk.length));
      entry.pause();
      pending.push(
        mkdir(dirname(destination), { recursive: true })
          .then(() => pipeline(entry, createWriteStream(destination)))
          .catch(fail),
      );
    } catch (error) {
      entry.resume();
      fail(error);
    }
  });
  parser.on('warn', (code: string, message: string | Error) => {
    fail(new ArchiveError(`Cannot read tar archive ${archivePath}: ${code} ${messageOf(message)}`));
  });
  try {
    await pipeline(createReadStream(archivePath), parser);
  } catch (error) {
    failure ??= error;
  }
  await Promise.allSettled(pending);
  if (failure !== undefined) {
    if (failure instanceof ArchiveError || isSystemError(failure)) throw failure;
    throw new ArchiveError(`Cannot read tar archive ${archivePath}: truncated or corrupt (${messageOf(failure)})`);
  }
  return { files: budget.files, bytes: budget.bytes, skipped: budget.skipped };
}

/**
 * Errors of our own disk writes (ENOSPC, EACCES…) say nothing about the archive: they stay
 * plain errors, so Temporal retries them (perhaps on a worker with more space).
 */
function isSystemError(error: unknown): boolean {
  return error instanceof Error && 'syscall' in error && typeof error.syscall === 'string';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
