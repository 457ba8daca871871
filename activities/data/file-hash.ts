import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** sha256 (lowercase hex) of a file, streamed so multi-GB archives need no memory. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function sha256Bytes(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
