import pLimit from 'p-limit';
import { ConfigError } from '../../common/errors.ts';
import { MAX_PRESIGN_SECONDS, READABLE_PREFIXES, type LocateObjectsRequest, type LocateObjectsResult, type LocatedObject, type LocatedTarget } from '../../common/stored-objects.ts';
import type { ActivityDeps } from '../deps.ts';
import { SHA256_METADATA_KEY, type ObjectStore } from '../object-store.ts';

/** Objects described at once: a folder of plots is a few dozen, a folder of checkpoints more. */
const CONCURRENT_STATS = 16;

function checkReadable(target: string): void {
  if (!READABLE_PREFIXES.some((prefix) => target.startsWith(prefix))) {
    throw new ConfigError(`Refusing to read ${target}: only objects under ${READABLE_PREFIXES.join(', ')} are readable this way`);
  }
}

async function describe(store: ObjectStore, key: string, presignSeconds: number | undefined): Promise<LocatedObject | undefined> {
  const info = await store.stat(key);
  if (info === undefined) return undefined;
  const sha256 = info.metadata[SHA256_METADATA_KEY]?.toLowerCase();
  const url = presignSeconds === undefined ? undefined : await store.presignedGet(key, presignSeconds);
  return { key, size: info.size, ...(sha256 === undefined ? {} : { sha256 }), ...(url === undefined ? {} : { url }) };
}

/** Sizes, recorded hashes and (optionally) presigned URLs of the objects at each target. */
export async function locateObjects(store: ObjectStore, request: LocateObjectsRequest): Promise<LocateObjectsResult> {
  const { presignSeconds } = request;
  if (presignSeconds !== undefined && !(Number.isInteger(presignSeconds) && presignSeconds >= 1 && presignSeconds <= MAX_PRESIGN_SECONDS)) {
    throw new ConfigError(`presignSeconds must be an integer from 1 to ${MAX_PRESIGN_SECONDS}, got ${presignSeconds}`);
  }
  request.targets.forEach(checkReadable);
  const limit = pLimit(CONCURRENT_STATS);
  const folder = async (prefix: string): Promise<LocatedTarget['objects']> => {
    const found = await Promise.all((await store.list(prefix)).map((key) => limit(() => describe(store, key, presignSeconds))));
    return found.filter((object) => object !== undefined);
  };
  const targets = await Promise.all(
    request.targets.map(async (target): Promise<LocatedTarget> => {
      if (target.endsWith('/')) return { target, folder: true, objects: await folder(target) };
      const object = await limit(() => describe(store, target, presignSeconds));
      if (object !== undefined) return { target, folder: false, objects: [object] };
      return { target, folder: true, objects: await folder(`${target}/`) };
    }),
  );
  return { bucket: store.bucket, targets };
}

export function createLocateObjectsActivities({ store }: ActivityDeps) {
  return {
    /** What `mlp artifacts`, `mlp report` and `mlp compare` need to know about stored objects (common/stored-objects.ts). */
    async locateStoredObjects(request: LocateObjectsRequest): Promise<LocateObjectsResult> {
      return locateObjects(store, request);
    },
  };
}
