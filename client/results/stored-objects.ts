import { createHash, randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { ArtifactNotFoundError, ChecksumMismatchError } from '../../common/errors.ts';
import { LOCATE_OBJECTS_WORKFLOW, LocateObjectsResultSchema, type LocateObjectsRequest, type LocateObjectsResult, type LocatedObject } from '../../common/stored-objects.ts';
import { workflowTaskQueue } from '../../common/task-queues.ts';
import type { ClientConfig } from '../config.ts';
import { warnWhenNoWorker } from '../runs/task-queue-pollers.ts';

/**
 * The CLI's read access to stored objects: the worker describes and presigns them (the
 * `locateObjects` workflow), the CLI downloads the bytes from the presigned URLs and checks them
 * against the sha256 their writer recorded.
 */

/** How long the URLs the CLI asks for live: it downloads them at once. */
export const PRESIGN_SECONDS = 300;

export async function locateStoredObjects(client: Client, config: ClientConfig, request: LocateObjectsRequest): Promise<LocateObjectsResult> {
  if (request.targets.length === 0) return { bucket: '', targets: [] };
  await warnWhenNoWorker(client, workflowTaskQueue(config.taskQueuePrefix));
  const result: unknown = await client.workflow.execute(LOCATE_OBJECTS_WORKFLOW, {
    taskQueue: workflowTaskQueue(config.taskQueuePrefix),
    workflowId: `locate-objects-${randomUUID().slice(0, 8)}`,
    args: [request],
  });
  return LocateObjectsResultSchema.parse(result);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The object's bytes from its presigned URL; a recorded sha256 must match. */
export async function downloadObject(object: LocatedObject): Promise<Buffer> {
  if (object.url === undefined) throw new ArtifactNotFoundError(`Download of ${object.key} failed: the worker gave no URL for it`);
  const response = await fetch(object.url);
  if (!response.ok) throw new ArtifactNotFoundError(`Download of ${object.key} failed with status ${response.status}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  if (object.sha256 !== undefined && sha256Hex(bytes) !== object.sha256) {
    throw new ChecksumMismatchError(`Download of ${object.key} failed: sha256 ${sha256Hex(bytes)} differs from the recorded ${object.sha256}`);
  }
  return bytes;
}

/** Downloads the objects at `keys` (files, not folders) and returns their bytes by key; missing ones are absent. */
export async function fetchObjects(client: Client, config: ClientConfig, keys: readonly string[]): Promise<Map<string, Buffer>> {
  const unique = [...new Set(keys)];
  const located = await locateStoredObjects(client, config, { targets: unique, presignSeconds: PRESIGN_SECONDS });
  const files = located.targets.flatMap((target) => (target.folder ? [] : target.objects));
  const contents = await Promise.all(files.map(async (object) => [object.key, await downloadObject(object)] as const));
  return new Map(contents);
}
