import pLimit from 'p-limit';
import { ArtifactNotFoundError } from '../../common/errors.ts';
import type { ObjectStore } from '../object-store.ts';

/** One image's cached backbone features: the shape of one row and its float32 values. */
export interface FeatureRow {
  shape: number[];
  values: Float32Array;
}

/**
 * Where frozen-backbone features persist between runs. Keys are relative
 * (`<backboneHash>/<viewKey>/<imageSha256>`); the trainer builds them, the cache only stores.
 */
export interface FeatureCache {
  /** The rows of `keys`, in order; `undefined` where none is stored. */
  get(keys: readonly string[]): Promise<(FeatureRow | undefined)[]>;
  put(entries: readonly { key: string; row: FeatureRow }[]): Promise<void>;
}

/** Encodes a row as `[ndim u32][dims u32…][float32 values]`, little-endian: self-describing and exact. */
export function encodeFeatureRow(row: FeatureRow): Buffer {
  const header = Buffer.alloc(4 * (1 + row.shape.length));
  header.writeUInt32LE(row.shape.length, 0);
  row.shape.forEach((dim, i) => header.writeUInt32LE(dim, 4 * (i + 1)));
  const values = Buffer.from(row.values.buffer, row.values.byteOffset, row.values.byteLength);
  return Buffer.concat([header, values]);
}

/** Decodes `encodeFeatureRow`'s bytes; undefined when they are not a whole row (a foreign or truncated object). */
export function decodeFeatureRow(bytes: Buffer): FeatureRow | undefined {
  if (bytes.length < 4) return undefined;
  const ndim = bytes.readUInt32LE(0);
  const headerBytes = 4 * (1 + ndim);
  if (bytes.length < headerBytes) return undefined;
  const shape = Array.from({ length: ndim }, (_, i) => bytes.readUInt32LE(4 * (i + 1)));
  const count = shape.reduce((product, dim) => product * dim, 1);
  if (bytes.length !== headerBytes + 4 * count) return undefined;
  // A copy: the Buffer may sit at an offset of a pooled ArrayBuffer that is not 4-byte aligned.
  const values = new Float32Array(count);
  new Uint8Array(values.buffer).set(bytes.subarray(headerBytes));
  return { shape, values };
}

/**
 * Features as one object per image under `prefix` (`features/` by default), fetched and written
 * with bounded concurrency. Per-image objects let a full run reuse the partial run's images.
 */
export class ObjectStoreFeatureCache implements FeatureCache {
  readonly #store: ObjectStore;
  readonly #prefix: string;
  readonly #limit: ReturnType<typeof pLimit>;

  constructor(store: ObjectStore, options: { prefix?: string; concurrency?: number } = {}) {
    this.#store = store;
    this.#prefix = options.prefix ?? 'features/';
    this.#limit = pLimit(options.concurrency ?? 16);
  }

  keyOf(key: string): string {
    return `${this.#prefix}${key}.bin`;
  }

  async get(keys: readonly string[]): Promise<(FeatureRow | undefined)[]> {
    return Promise.all(
      keys.map((key) =>
        this.#limit(async () => {
          try {
            return decodeFeatureRow(await this.#store.get(this.keyOf(key)));
          } catch (error) {
            if (error instanceof ArtifactNotFoundError) return undefined;
            throw error;
          }
        }),
      ),
    );
  }

  async put(entries: readonly { key: string; row: FeatureRow }[]): Promise<void> {
    await Promise.all(entries.map(({ key, row }) => this.#limit(() => this.#store.put(this.keyOf(key), encodeFeatureRow(row)))));
  }
}

/** Features in a Map (tests, and runs without object storage); rows are copied in and out. */
export class MemoryFeatureCache implements FeatureCache {
  readonly rows = new Map<string, FeatureRow>();

  async get(keys: readonly string[]): Promise<(FeatureRow | undefined)[]> {
    return keys.map((key) => {
      const row = this.rows.get(key);
      return row ? { shape: [...row.shape], values: row.values.slice() } : undefined;
    });
  }

  async put(entries: readonly { key: string; row: FeatureRow }[]): Promise<void> {
    for (const { key, row } of entries) this.rows.set(key, { shape: [...row.shape], values: row.values.slice() });
  }
}
