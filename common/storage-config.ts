/** Connection settings for the S3-compatible object store (MinIO locally; any S3 server works). */
export interface StorageConfig {
  /** Full endpoint URL, e.g. `http://127.0.0.1:9000`. */
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Client options (in the `minio` client's shape) for a `StorageConfig`: path-style addressing,
 * so any S3 server works without per-bucket DNS names. Shared by the activities' object store and
 * the local stack, which creates the bucket.
 */
export function s3ClientOptions(storage: StorageConfig) {
  const url = new URL(storage.endpoint);
  return {
    endPoint: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    useSSL: url.protocol === 'https:',
    region: storage.region,
    accessKey: storage.accessKeyId,
    secretKey: storage.secretAccessKey,
    pathStyle: true,
  };
}
