import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, posix } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { ArtifactNotFoundError, ChecksumMismatchError, RunCodeError } from '../../common/errors.ts';
import { codeArchiveKey } from '../../common/object-keys.ts';
import { PACKAGED_CODE } from '../../common/step-kinds/run.ts';
import type { ObjectStore } from '../object-store.ts';
import { makeReadOnly, removeTree } from './read-only-tree.ts';

/**
 * The user's code on this worker: `code/<sha256>.tar.gz` fetched from the object store, checked
 * against its sha256 and unpacked once per sha256 into `<runDir>/code/<sha256>/`, where every
 * later step with the same code finds it. Unpacked into a temporary folder and renamed into
 * place, so a crash mid-way leaves nothing another step could take for whole code. Its files are
 * read-only: steps share the folder, so a command writes to $MLP_OUTPUTS or $TMPDIR instead.
 */

/** The sha256 of the packaged code a run step names (`sha256:<hex>`); RunCodeError for anything else. */
export function packagedCodeSha256(code: string, stepId: string): string {
  const sha256 = PACKAGED_CODE.exec(code)?.[1];
  if (sha256 === undefined) {
    throw new RunCodeError(`Run step "${stepId}": code "${code}" was not packaged (expected sha256:<hex>); submit the pipeline with the mlp CLI, which packages the code folder`);
  }
  return sha256;
}

const unpacking = new Map<string, Promise<string>>();

/** The unpacked code folder of `sha256` under `runDir`, fetched and unpacked on first use (once per process at a time). */
export function ensureCodeFolder(store: ObjectStore, runDir: string, sha256: string): Promise<string> {
  const target = join(runDir, 'code', sha256);
  let pending = unpacking.get(target);
  if (pending === undefined) {
    pending = unpackOnce(store, runDir, sha256, target).finally(() => unpacking.delete(target));
    unpacking.set(target, pending);
  }
  return pending;
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function unpackOnce(store: ObjectStore, runDir: string, sha256: string, target: string): Promise<string> {
  if (await isFolder(target)) return target;
  const work = join(runDir, 'code', `.unpack-${randomUUID()}`);
  const archive = `${work}.tar.gz`;
  await mkdir(work, { recursive: true });
  try {
    await download(store, sha256, archive);
    await unpack(archive, work, codeArchiveKey(sha256));
    await makeReadOnly(work, { folders: false });
    try {
      await rename(work, target);
    } catch (error) {
      // Another process unpacked the same code first: theirs is as good as ours.
      if (!(await isFolder(target))) throw error;
    }
    return target;
  } finally {
    await rm(archive, { force: true });
    await removeTree(work);
  }
}

async function download(store: ObjectStore, sha256: string, path: string): Promise<void> {
  const key = codeArchiveKey(sha256);
  let source;
  try {
    source = await store.getStream(key);
  } catch (error) {
    if (!(error instanceof ArtifactNotFoundError)) throw error;
    throw new RunCodeError(`Code archive s3://${store.bucket}/${key} not found: the pipeline's code was not uploaded (submit it with the mlp CLI) or it was deleted`, { cause: error });
  }
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(source, hashing, createWriteStream(path));
  const actual = hash.digest('hex');
  if (actual !== sha256) throw new ChecksumMismatchError(`Code archive s3://${store.bucket}/${key} has sha256 ${actual}, not the ${sha256} its key names`);
}

/** A link's target stays inside the archive's folder. */
function linkStaysInside(entryPath: string, linkPath: string): boolean {
  if (isAbsolute(linkPath)) return false;
  const resolved = posix.normalize(posix.join(posix.dirname(entryPath), linkPath));
  return resolved !== '..' && !resolved.startsWith('../');
}

async function unpack(archive: string, folder: string, key: string): Promise<void> {
  let refused: string | undefined;
  try {
    await tar.x({
      file: archive,
      cwd: folder,
      strict: true,
      preserveOwner: false,
      filter: (path, entry) => {
        if (!('type' in entry)) return true;
        const link = entry.type === 'SymbolicLink' || entry.type === 'Link';
        if (link && !linkStaysInside(path, entry.linkpath ?? '')) {
          refused ??= `link "${path}" -> "${entry.linkpath ?? ''}" points outside the code folder`;
          return false;
        }
        return true;
      },
    });
  } catch (error) {
    throw new RunCodeError(`Code archive ${key} cannot be unpacked: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (refused !== undefined) throw new RunCodeError(`Code archive ${key} is unsafe: ${refused}`);
}
