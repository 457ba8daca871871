import pLimit from 'p-limit';
import type { ObjectStore } from '../object-store.ts';

/**
 * Up to this many keys are checked one HEAD each; more are answered by one listing of the prefix.
 * A listing page holds 1,000 keys and costs about as much as a few dozen HEADs, but its length
 * grows with everything ever stored under the prefix: importing 20 images into a bucket that
 * holds 10,000 must not list all of them.
 */
export const HEAD_EACH_UP_TO = 256;

/**
 * Which of `keys` (all under `prefix`) are already stored: content-addressed writers skip those.
 * Chooses per-key HEADs or one listing (see {@link HEAD_EACH_UP_TO}).
 */
export async function storedKeys(store: ObjectStore, prefix: string, keys: readonly string[], concurrency = 16): Promise<Set<string>> {
  if (keys.length > HEAD_EACH_UP_TO) {
    const wanted = new Set(keys);
    return new Set((await store.list(prefix)).filter((key) => wanted.has(key)));
  }
  const limit = pLimit(concurrency);
  const found = await Promise.all(keys.map((key) => limit(async () => ((await store.exists(key)) ? key : undefined))));
  return new Set(found.filter((key): key is string => key !== undefined));
}
