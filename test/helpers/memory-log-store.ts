import { ArtifactNotFoundError } from '../../common/errors.ts';
import type { StepLogSource } from '../../activities/run/step-log-reader.ts';
import type { StepLogWriterOptions } from '../../activities/run/step-log.ts';

/**
 * The object-store calls the step-log writer and reader make, kept in memory: unit tests of
 * `mlp logs` write logs with the real writer and read them with the real reader, without a
 * server. (test/integration/step-log.test.ts runs the writer on the real S3 server.)
 */
export class MemoryLogStore implements StepLogSource, Pick<StepLogWriterOptions['store'], 'put' | 'putJson'> {
  readonly objects = new Map<string, Buffer>();

  async put(key: string, body: Buffer | string | NodeJS.ReadableStream): Promise<void> {
    if (typeof body !== 'string' && !Buffer.isBuffer(body)) throw new Error('MemoryLogStore stores buffers and strings only');
    this.objects.set(key, Buffer.from(body));
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.put(key, JSON.stringify(value));
  }

  async getJson(key: string): Promise<unknown> {
    return JSON.parse(this.#get(key).toString('utf8')) as unknown;
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    return this.#get(key).subarray(offset, offset + length);
  }

  async listWithInfo(prefix: string): Promise<{ key: string; size: number; lastModified: Date }[]> {
    return [...this.objects.keys()]
      .filter((key) => key.startsWith(prefix))
      .sort()
      .map((key) => ({ key, size: this.#get(key).length, lastModified: new Date(0) }));
  }

  #get(key: string): Buffer {
    const body = this.objects.get(key);
    if (body === undefined) throw new ArtifactNotFoundError(`Object not found: ${key}`);
    return body;
  }
}
