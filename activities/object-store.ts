import type { Readable } from 'node:stream';
import { Client, S3Error } from 'minio';
import { ArtifactNotFoundError, ConfigError, type StorageConfig } from '../common/index.ts';
import { unsafeObjectKeyReason } from '../common/object-keys.ts';
import { s3ClientOptions } from '../common/storage-config.ts';

/** What `stat` reports about a stored object. */
export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  /** User metadata (`x-amz-meta-*`), keys lower-case without the prefix. */
  metadata: Record<string, string>;
}

/** User-metadata key under which writers may record an object's sha256 (hex) at PUT time. */
export const SHA256_METADATA_KEY = 'sha256';

/**
 * The project's only door to object storage. Plain S3 calls only (put, get, stat, list,
 * remove), so any S3-compatible server works, not just MinIO.
 */
export class ObjectStore {
  readonly bucket: string;
  readonly #config: StorageConfig;
  readonly #client: Client;

  constructor(config: StorageConfig) {
    this.bucket = config.bucket;
    this.#config = config;
    this.#client = new Client(s3ClientOptions(config));
  }

  /**
   * The same server and credentials, another bucket: how `s3://<bucket>/<key>` sources outside
   * the worker's own bucket are read. Returns this store for its own bucket.
   */
  forBucket(bucket: string): ObjectStore {
    return bucket === this.bucket ? this : new ObjectStore({ ...this.#config, bucket });
  }

  /** Whether the bucket exists (a missing object and a missing bucket both stat as not found). */
  async bucketExists(): Promise<boolean> {
    return this.#client.bucketExists(this.bucket);
  }

  /**
   * Creates the bucket if it does not exist yet (safe to call concurrently). Workers call it at
   * start, so refused credentials surface here as a ConfigError naming the endpoint, bucket and
   * access key id (never the secret).
   */
  async ensureBucket(): Promise<void> {
    try {
      if (await this.#client.bucketExists(this.bucket)) return;
      await this.#client.makeBucket(this.bucket);
    } catch (error) {
      if (error instanceof S3Error && ['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(error.code ?? '')) return;
      if (error instanceof S3Error && CREDENTIAL_ERROR_CODES.includes(error.code ?? '')) {
        throw new ConfigError(
          `S3 server ${this.#config.endpoint} refused the credentials of access key ${this.#config.accessKeyId} for bucket ${this.bucket} (${error.code}: ${error.message}); check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Writes one object. S3 makes each PUT atomic: readers see the old object or the whole new one. */
  async put(
    key: string,
    body: Buffer | string | Readable,
    contentType = 'application/octet-stream',
    metadata: Record<string, string> = {},
  ): Promise<void> {
    checkKey(key);
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const size = Buffer.isBuffer(data) ? data.length : undefined;
    await this.#client.putObject(this.bucket, key, data, size, { ...metadata, 'Content-Type': contentType });
  }

  /**
   * Writes an object only if no object has that key (conditional PUT, `If-None-Match: *`);
   * false when one exists. Atomic on servers that implement it (AWS S3, MinIO, versitygw): of
   * concurrent writers exactly one gets true. Used to claim registry version numbers.
   */
  async putIfAbsent(key: string, body: Buffer | string, contentType = 'application/octet-stream'): Promise<boolean> {
    checkKey(key);
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    try {
      await this.#client.putObject(this.bucket, key, data, data.length, { 'Content-Type': contentType, 'If-None-Match': '*' });
      return true;
    } catch (error) {
      // 409 ConditionalRequestConflict: a concurrent conditional write to the same key is in flight.
      if (error instanceof S3Error && ['PreconditionFailed', 'ConditionalRequestConflict'].includes(error.code ?? '')) return false;
      throw error;
    }
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.put(key, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
  }

  /** Reads a whole object; throws `ArtifactNotFoundError` when it does not exist. */
  async get(key: string): Promise<Buffer> {
    const stream = await this.#wrapNotFound(key, () => this.#client.getObject(this.bucket, key));
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async getJson(key: string): Promise<unknown> {
    return JSON.parse((await this.get(key)).toString('utf8')) as unknown;
  }

  /**
   * Reads `length` bytes of an object from `offset` (a ranged GET): how `mlp logs --follow`
   * reads only what a growing log gained. Throws `ArtifactNotFoundError` when it does not exist.
   */
  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    const stream = await this.#wrapNotFound(key, () => this.#client.getPartialObject(this.bucket, key, offset, length));
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Streams an object; throws `ArtifactNotFoundError` when it does not exist. */
  async getStream(key: string): Promise<Readable> {
    return this.#wrapNotFound(key, () => this.#client.getObject(this.bucket, key));
  }

  /** Metadata of an object, or `undefined` when it does not exist. */
  async stat(key: string): Promise<ObjectInfo | undefined> {
    checkKey(key);
    try {
      const info = await this.#client.statObject(this.bucket, key);
      const metadata: Record<string, string> = {};
      for (const [name, value] of Object.entries(info.metaData)) {
        if (typeof value === 'string') metadata[name.toLowerCase()] = value;
      }
      return { key, size: info.size, etag: info.etag, metadata };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== undefined;
  }

  /** Keys under a prefix, in the server's (lexicographic) order. */
  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const item of this.#client.listObjectsV2(this.bucket, prefix, true)) {
      if (typeof item.name === 'string') keys.push(item.name);
    }
    return keys;
  }

  /** Keys under a prefix with their size and time of last write (what `mlp gc` weighs and ages). */
  async listWithInfo(prefix: string): Promise<{ key: string; size: number; lastModified: Date }[]> {
    const objects: { key: string; size: number; lastModified: Date }[] = [];
    for await (const item of this.#client.listObjectsV2(this.bucket, prefix, true)) {
      if (typeof item.name === 'string') objects.push({ key: item.name, size: item.size, lastModified: item.lastModified ?? new Date() });
    }
    return objects;
  }

  /**
   * A GET URL for `key` that works without credentials for `seconds` (SigV4 query signing, done
   * locally: no request to the server). Whoever holds it may read that one object until it expires.
   */
  async presignedGet(key: string, seconds: number): Promise<string> {
    checkKey(key);
    return this.#client.presignedGetObject(this.bucket, key, seconds);
  }

  async remove(key: string): Promise<void> {
    await this.#client.removeObject(this.bucket, key);
  }

  async #wrapNotFound<T>(key: string, operation: () => Promise<T>): Promise<T> {
    checkKey(key);
    try {
      return await operation();
    } catch (error) {
      if (isNotFound(error)) throw new ArtifactNotFoundError(`Object not found: s3://${this.bucket}/${key}`);
      throw error;
    }
  }
}

/** S3 error codes that mean the access key or its secret is wrong, or lacks rights. */
const CREDENTIAL_ERROR_CODES = ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidSecurity'];

/**
 * Refuses a key that could leave its prefix: keys hold names from pipeline files, and a
 * filesystem-backed S3 server (versitygw's posix backend) maps them onto paths.
 */
function checkKey(key: string): void {
  const reason = unsafeObjectKeyReason(key);
  if (reason !== undefined) throw new ConfigError(`Refusing object key '${key}': ${reason}`);
}

function isNotFound(error: unknown): boolean {
  return error instanceof S3Error && ['NoSuchKey', 'NotFound', 'NoSuchObject'].includes(error.code ?? '');
}
