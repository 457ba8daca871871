import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** sha256 (lowercase hex) of a file, streamed so multi-GB archives need no memory. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** sha256 and md5 (lowercase hex) and size of a file in one streamed pass (md5: what Keras publishes for its weight files). */
export async function fileDigests(path: string): Promise<{ sha256: string; md5: string; bytes: number }> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const buffer = chunk as Buffer;
    sha256.update(buffer);
    md5.update(buffer);
    bytes += buffer.length;
  }
  return { sha256: sha256.digest('hex'), md5: md5.digest('hex'), bytes };
}

export function sha256Bytes(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
