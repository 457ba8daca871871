/** Connection settings for the S3-compatible object store (MinIO locally; any S3 server works). */
export interface StorageConfig {
  /** Full endpoint URL, e.g. `http://127.0.0.1:9000`. */
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}
