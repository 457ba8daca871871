import { z } from 'zod';

/**
 * `mlp artifacts`, `mlp report` and `mlp compare` read what runs stored through the
 * `locateObjects` workflow (workflows/locate-objects.ts), as `mlp gc` and `mlp models` do: the
 * CLI holds no storage credentials. The worker answers with each object's size and recorded
 * sha256 and, when asked, a short-lived presigned GET URL, so the bytes themselves go straight
 * from the object store to the CLI and never through a workflow payload.
 */

export const LOCATE_OBJECTS_WORKFLOW = 'locateObjects';

/** The longest a presigned URL lives: long enough to download a run's plots, short enough to be worthless in an exported history. */
export const MAX_PRESIGN_SECONDS = 600;

/** Prefixes the worker will describe or presign: what runs write and read, never cache entries or code. */
export const READABLE_PREFIXES = ['runs/', 'datasets/', 'models/'] as const;

export interface LocateObjectsRequest {
  /**
   * Object keys or folders. A key ending in `/` is a folder (every object under it); another key
   * is the object itself or, when no object has that exact key, the folder `<key>/`.
   */
  targets: string[];
  /** Presign a GET URL valid this many seconds for every object found; none when absent. */
  presignSeconds?: number;
}

export const LocatedObjectSchema = z.object({
  key: z.string(),
  size: z.number().int().nonnegative(),
  /** The sha256 a writer recorded in the object's metadata at PUT, when it did. */
  sha256: z.string().optional(),
  url: z.string().optional(),
});
export type LocatedObject = z.infer<typeof LocatedObjectSchema>;

export const LocatedTargetSchema = z.object({
  target: z.string(),
  /** Whether the target was a folder (its objects) rather than one object. */
  folder: z.boolean(),
  /** Empty when nothing is stored there. */
  objects: z.array(LocatedObjectSchema),
});
export type LocatedTarget = z.infer<typeof LocatedTargetSchema>;

export const LocateObjectsResultSchema = z.object({
  bucket: z.string(),
  targets: z.array(LocatedTargetSchema),
});
export type LocateObjectsResult = z.infer<typeof LocateObjectsResultSchema>;
