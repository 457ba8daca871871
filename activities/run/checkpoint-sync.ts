import { mkdir, readdir, readFile, lstat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ArtifactNotFoundError, ChecksumMismatchError } from '../../common/errors.ts';
import { sha256Bytes } from '../data/file-hash.ts';
import { SHA256_METADATA_KEY, type ObjectStore } from '../object-store.ts';

/**
 * $MLP_CHECKPOINTS survives the attempts of a step. While the command runs, a changed folder is
 * saved at most every `intervalMs`, and once more when the command exits; before a retry starts
 * the command again, the last saved state is restored. Stored under the step's run prefix:
 * `<runPrefix>checkpoints/blobs/<sha256>` (each file's bytes, by content) and
 * `<runPrefix>checkpoints/manifest.json` (path → sha256), written after the blobs it names: a
 * save cut short leaves the previous manifest, whole. A file the command is writing while a save
 * reads it may be saved half-written; writing a checkpoint to a temporary name and renaming it
 * (what torch.save to a temp file + os.replace does) keeps every saved state consistent.
 */

const manifestSchema = z.object({
  version: z.literal(1),
  files: z.array(z.object({ path: z.string(), sha256: z.string(), bytes: z.number() })),
});
/** What a save stored: each file's path, sha256 and size. */
export type CheckpointManifest = z.infer<typeof manifestSchema>;

const EMPTY: CheckpointManifest = { version: 1, files: [] };

function manifestKey(runPrefix: string): string {
  return `${runPrefix}checkpoints/manifest.json`;
}

function blobKey(runPrefix: string, sha256: string): string {
  return `${runPrefix}checkpoints/blobs/${sha256}`;
}

/** Relative paths (with `/`), sizes and modification times of the files under `root`: what changes when a checkpoint is written. */
async function scan(root: string, prefix = ''): Promise<{ path: string; size: number; mtimeMs: number }[]> {
  const found: { path: string; size: number; mtimeMs: number }[] = [];
  let entries: string[];
  try {
    entries = (await readdir(join(root, prefix))).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return found;
    throw error;
  }
  for (const entry of entries) {
    const path = `${prefix}${entry}`;
    let info;
    try {
      info = await lstat(join(root, path));
    } catch {
      continue; // removed while we looked
    }
    if (info.isDirectory()) found.push(...(await scan(root, `${path}/`)));
    else if (info.isFile()) found.push({ path, size: info.size, mtimeMs: info.mtimeMs });
  }
  return found;
}

/** Downloads the last saved checkpoints of the step into `folder`; what they were (no files on a first attempt). */
export async function restoreCheckpoints(store: ObjectStore, runPrefix: string, folder: string): Promise<CheckpointManifest> {
  let stored: unknown;
  try {
    stored = await store.getJson(manifestKey(runPrefix));
  } catch (error) {
    if (error instanceof ArtifactNotFoundError) return EMPTY;
    throw error;
  }
  const manifest = manifestSchema.parse(stored);
  for (const file of manifest.files) {
    const bytes = await store.get(blobKey(runPrefix, file.sha256));
    if (sha256Bytes(bytes) !== file.sha256) throw new ChecksumMismatchError(`Checkpoint file ${file.path} of ${runPrefix} does not match its sha256`);
    const path = join(folder, ...file.path.split('/'));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  }
  return manifest;
}

export interface CheckpointSync {
  /** Stops the periodic saves and saves what the folder holds now (if it changed). */
  finish(): Promise<void>;
}

export interface CheckpointSyncOptions {
  store: ObjectStore;
  runPrefix: string;
  folder: string;
  /** Least time between two saves while the command runs. */
  intervalMs: number;
  /** A save that failed (retried at the next interval; the attempt goes on). */
  onError: (error: unknown) => void;
  /** What is stored already (restored before the command started), so unchanged files are not uploaded again. */
  restored?: CheckpointManifest;
  /** A save that stored a new state. */
  onSaved?: (files: number) => void;
}

/** Saves the checkpoint folder whenever it changed, at most every `intervalMs`, from now until `finish`. */
export function syncCheckpoints(options: CheckpointSyncOptions): CheckpointSync {
  const { store, runPrefix, folder } = options;
  let lastSignature = '';
  let saved: CheckpointManifest = options.restored ?? EMPTY;
  // Each file's sha256 by path, with the size and time of last write it was computed at: an unchanged file is not read again.
  const hashed = new Map<string, { stamp: string; sha256: string }>();
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  const save = async (): Promise<void> => {
    const files = await scan(folder);
    const signature = JSON.stringify(files);
    if (signature === lastSignature) return;
    const next: CheckpointManifest = { version: 1, files: [] };
    const known = new Set(saved.files.map((file) => file.sha256));
    for (const file of files) {
      const stamp = `${file.size}:${file.mtimeMs}`;
      const unchanged = hashed.get(file.path);
      if (unchanged?.stamp === stamp) {
        next.files.push({ path: file.path, sha256: unchanged.sha256, bytes: file.size });
        continue;
      }
      // Read once, hashed and uploaded from the same bytes, so a blob always matches its name.
      let bytes: Buffer;
      try {
        bytes = await readFile(join(folder, ...file.path.split('/')));
      } catch {
        continue; // removed since the scan
      }
      const sha256 = sha256Bytes(bytes);
      if (!known.has(sha256)) await store.put(blobKey(runPrefix, sha256), bytes, 'application/octet-stream', { [SHA256_METADATA_KEY]: sha256 });
      known.add(sha256);
      hashed.set(file.path, { stamp, sha256 });
      next.files.push({ path: file.path, sha256, bytes: bytes.length });
    }
    await store.putJson(manifestKey(runPrefix), next);
    const live = new Set(next.files.map((file) => file.sha256));
    for (const old of saved.files) if (!live.has(old.sha256)) await store.remove(blobKey(runPrefix, old.sha256)).catch(() => undefined);
    saved = next;
    lastSignature = signature;
    options.onSaved?.(next.files.length);
  };

  const tick = (): void => {
    running = running.then(save).catch(options.onError);
  };
  const timer = setInterval(() => {
    if (!stopped) tick();
  }, options.intervalMs);
  timer.unref();

  return {
    async finish() {
      stopped = true;
      clearInterval(timer);
      await running;
      await save();
    },
  };
}
