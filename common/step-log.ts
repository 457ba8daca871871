import { z } from 'zod';

/**
 * What the worker records when an attempt of a `run` step ended, next to its log
 * (`stepLogStatusKey`): how the command ended and how many bytes the log holds. `mlp logs`
 * reads it to know a log is complete.
 */
export const StepLogStatusSchema = z.object({
  attempt: z.number().int().min(1),
  /** The command's exit code, null when a signal ended it (or it never started). */
  exitCode: z.number().int().nullable(),
  /** The signal that ended the command (SIGTERM, SIGKILL), or null. */
  signal: z.string().nullable(),
  startedAt: z.string(),
  endedAt: z.string(),
  /** Size of the complete log object. */
  bytes: z.number().int().min(0),
});
export type StepLogStatus = z.infer<typeof StepLogStatusSchema>;

/** `mlp logs` as a short workflow (workflows/step-logs.ts): the CLI holds no storage credentials, the worker reads. */
export const READ_STEP_LOGS_WORKFLOW = 'readStepLogs';

/** At most this many log bytes travel in one answer (Temporal payloads stay far below their limit). */
export const STEP_LOGS_MAX_BYTES = 512 * 1024;

/** What one `readStepLogs` call reads: the logs of a run's steps, each from the offset the reader reached. */
export interface StepLogsRequest {
  workflowId: string;
  /** One step's logs (with its sweep trials'); every step's when absent. */
  stepId?: string;
  /** This attempt of each log; the latest of each when absent. */
  attempt?: number;
  /** Bytes of each log key the reader has already printed (absent: 0). */
  offsets: Record<string, number>;
  /** @default STEP_LOGS_MAX_BYTES, and never more */
  maxBytes?: number;
  /**
   * Long poll: while nothing is new, look again (every second) for up to this long before
   * answering, so a follower of a quiet log starts a few workflows a minute rather than one per
   * poll. New is a line, a log the reader has no offset for, or a status not in `complete`.
   * @default 0, at most STEP_LOGS_MAX_WAIT_MS
   */
  waitMs?: number;
  /** Log keys the reader has already seen complete (their status present). */
  complete?: string[];
}

/** The longest a `readStepLogs` call waits for something new (its activity's timeout is a minute). */
export const STEP_LOGS_MAX_WAIT_MS = 20_000;

/** One log (a step's or a sweep trial's attempt) and the whole lines read from it this time. */
export const StepLogChunkSchema = z.object({
  stepId: z.string(),
  /** The sweep trial's index, for a trial's log. */
  trial: z.number().int().min(0).optional(),
  attempt: z.number().int().min(1),
  key: z.string(),
  /** The log's size when listed. */
  size: z.number().int().min(0),
  /** Present once the attempt ended: the log is complete. */
  status: StepLogStatusSchema.nullable(),
  /** Where `text` starts, and where the next read starts. */
  offset: z.number().int().min(0),
  nextOffset: z.number().int().min(0),
  /** Whole lines (each ending in a newline), empty when nothing new. */
  text: z.string(),
});
export type StepLogChunk = z.infer<typeof StepLogChunkSchema>;

export const StepLogsResponseSchema = z.object({
  /** The selected attempt of each step's and trial's log that has it. */
  logs: z.array(StepLogChunkSchema),
  /** Every step and trial with a log, and the attempts it has (ascending). */
  sources: z.array(z.object({ stepId: z.string(), trial: z.number().int().min(0).optional(), attempts: z.array(z.number().int().min(1)) })),
});
export type StepLogsResponse = z.infer<typeof StepLogsResponseSchema>;

/** A log or status key of a run, taken apart: `runs/<wf>/<step>/[trials/<n>/]logs/attempt-<a>.(log|json)`. */
export interface StepLogKeyParts {
  stepId: string;
  trial?: number;
  attempt: number;
  kind: 'log' | 'status';
}

const STEP_LOG_KEY_TAIL = /^([^/]+)\/(?:trials\/(\d+)\/)?logs\/attempt-(\d+)\.(log|json)$/;

/** The parts of a key under `runs/<workflowId>/`, or undefined when it is not a step log or status. */
export function parseStepLogKey(workflowId: string, key: string): StepLogKeyParts | undefined {
  const prefix = `runs/${workflowId}/`;
  if (!key.startsWith(prefix)) return undefined;
  const match = STEP_LOG_KEY_TAIL.exec(key.slice(prefix.length));
  if (match === null) return undefined;
  const [, stepId = '', trial, attempt = '0', ext] = match;
  return { stepId, ...(trial === undefined ? {} : { trial: Number(trial) }), attempt: Number(attempt), kind: ext === 'log' ? 'log' : 'status' };
}

/** How a step's or trial's log is named in `mlp logs` output: `fit`, or `fit#2` for a sweep trial. */
export function stepLogLabel(source: { stepId: string; trial?: number }): string {
  return source.trial === undefined ? source.stepId : `${source.stepId}#${source.trial}`;
}
