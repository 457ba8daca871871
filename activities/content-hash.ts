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
