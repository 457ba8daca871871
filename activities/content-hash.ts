import { createHash } from 'node:crypto';
import { ArtifactNotFoundError } from '../common/errors.ts';
import { SHA256_METADATA_KEY, type ObjectStore } from './object-store.ts';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * sha256 (hex) of an object's bytes. Uses the hash its writer recorded in object metadata when
 * there is one (S3 replaces metadata on every PUT, so it cannot outlive the bytes it describes);
 * otherwise streams the object through the hash. Throws ArtifactNotFoundError when it is missing.
 */
export async function objectSha256(store: ObjectStore, key: string): Promise<string> {
  const info = await store.stat(key);
  if (info === undefined) {
    throw new ArtifactNotFoundError(`Cannot hash artifact: object not found: s3://${store.bucket}/${key}`);
  }
  const recorded = info.metadata[SHA256_METADATA_KEY]?.toLowerCase();
  if (recorded !== undefined && SHA256_HEX.test(recorded)) return recorded;
  const hash = createHash('sha256');
  for await (const chunk of await store.getStream(key)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One file of a folder artifact: its path inside the folder (`/` separators) and its sha256. */
export interface ListedFile {
  path: string;
  sha256: string;
}

/**
 * sha256 of a folder artifact: of its listing, one `<sha256>  <path>\n` line per file sorted by
 * path (the lines `sha256sum` prints, so a user can check a downloaded folder by hand). Names
 * and contents count; timestamps and modes do not.
 */
export function listingSha256(files: readonly ListedFile[]): string {
  const lines = [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((file) => `${file.sha256}  ${file.path}\n`)
    .join('');
  return createHash('sha256').update(lines).digest('hex');
}

/** The listing hash (`listingSha256`) of the objects under a prefix (a key ending in `/`), and how many there are. */
export async function prefixSha256(store: ObjectStore, prefix: string): Promise<{ sha256: string; files: number }> {
  const keys = await store.list(prefix);
  const files: ListedFile[] = [];
  for (const key of keys) files.push({ path: key.slice(prefix.length), sha256: await objectSha256(store, key) });
  return { sha256: listingSha256(files), files: files.length };
}

/** Content hash of an artifact named by an object key: a file's sha256, or a prefix's listing hash. */
export async function artifactSha256(store: ObjectStore, key: string): Promise<string> {
  return key.endsWith('/') ? (await prefixSha256(store, key)).sha256 : objectSha256(store, key);
}
