import type { StepLogStatus } from '../../common/step-log.ts';
import type { ObjectStore } from '../object-store.ts';

/**
 * The streamed log of one attempt of a `run` step: the command's stdout and stderr lines, in
 * the order they arrived, readable in object storage while the step runs (`mlp logs --follow`).
 * S3 has no append, so the writer re-uploads the whole log so far, at most every
 * `flushIntervalMs` and never two uploads at once; `close` uploads the rest and then the
 * attempt's status object, whose presence tells readers the log is complete.
 */

export interface StepLogWriterOptions {
  store: Pick<ObjectStore, 'put' | 'putJson'>;
  /** The log's key, `stepLogKey(runPrefix, attempt)`; the status goes to the same key ending in `.json`. */
  key: string;
  /** Least time between two uploads while the command runs. @default 2000 */
  flushIntervalMs?: number;
  /**
   * Bytes kept in the log object; later lines still reach `tail` and `lastLine` but are counted,
   * not stored, and a last line says how many were left out. @default 64 MiB
   */
  maxBytes?: number;
}

export interface StepLogWriter {
  /** Adds one line (no trailing newline). Lines appended after `close` are ignored. */
  append(line: string): void;
  /** The last `n` lines (at most TAIL_LINES, each cut at TAIL_LINE_CHARS): an error's context. */
  tail(n: number): string[];
  /** The latest line, for the step's heartbeat. */
  lastLine(): string | undefined;
  /** Uploads the whole log, then (when given) the attempt's status; throws when storage refuses. */
  close(status?: Omit<StepLogStatus, 'bytes'>): Promise<void>;
}

/** Lines `tail` can return. */
export const TAIL_LINES = 200;
/** A line in `tail` and `lastLine` is cut to this many characters: they travel in heartbeats and errors. */
export const TAIL_LINE_CHARS = 2_000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const CONTENT_TYPE = 'text/plain; charset=utf-8';

export function createStepLogWriter(options: StepLogWriterOptions): StepLogWriter {
  const { store, key, flushIntervalMs = 2_000, maxBytes = DEFAULT_MAX_BYTES } = options;
  if (!key.endsWith('.log')) throw new Error(`A step log's key must end in .log (its status is the same key ending in .json): ${key}`);
  const statusKey = `${key.slice(0, -'.log'.length)}.json`;

  let chunks: Buffer[] = [];
  let storedBytes = 0;
  let droppedLines = 0;
  const tailLines: string[] = [];
  let dirty = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let uploading: Promise<void> | undefined;
  let lastUploadStart = 0;
  let lastUploadMs = 0;

  const content = (): Buffer => {
    if (chunks.length > 1) chunks = [Buffer.concat(chunks)];
    return chunks[0] ?? Buffer.alloc(0);
  };

  const upload = async (): Promise<void> => {
    dirty = false;
    const started = Date.now();
    lastUploadStart = started;
    try {
      await store.put(key, content(), CONTENT_TYPE);
    } finally {
      lastUploadMs = Date.now() - started;
    }
  };

  const schedule = (): void => {
    if (closed || !dirty || timer !== undefined || uploading !== undefined) return;
    // At least the interval between starts, and at least the last upload's time between the end
    // of one and the start of the next: a log of many megabytes is uploaded less often.
    const delay = Math.max(lastUploadStart + flushIntervalMs - Date.now(), lastUploadMs, 0);
    timer = setTimeout(() => {
      timer = undefined;
      uploading = upload()
        // A refused upload while running is retried at the next flush; close() reports its own.
        .catch(() => {
          dirty = true;
        })
        .finally(() => {
          uploading = undefined;
          schedule();
        });
    }, delay);
  };

  return {
    append(line: string): void {
      if (closed) return;
      tailLines.push(line.length > TAIL_LINE_CHARS ? `${line.slice(0, TAIL_LINE_CHARS)}…` : line);
      if (tailLines.length > TAIL_LINES) tailLines.shift();
      const bytes = Buffer.from(`${line}\n`, 'utf8');
      // Once a line did not fit, later ones are not stored either: the log stays a prefix of the output.
      if (droppedLines > 0 || storedBytes + bytes.length > maxBytes) {
        droppedLines += 1;
        return;
      }
      chunks.push(bytes);
      storedBytes += bytes.length;
      dirty = true;
      schedule();
    },

    tail(n: number): string[] {
      return n <= 0 ? [] : tailLines.slice(-n);
    },

    lastLine(): string | undefined {
      return tailLines.at(-1);
    },

    async close(status?: Omit<StepLogStatus, 'bytes'>): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      await uploading;
      if (droppedLines > 0) chunks.push(Buffer.from(`[mlp] the log reached ${maxBytes} bytes: ${droppedLines} more lines were not stored\n`, 'utf8'));
      const body = content();
      await store.put(key, body, CONTENT_TYPE);
      if (status !== undefined) {
        const record: StepLogStatus = { ...status, bytes: body.length };
        await store.putJson(statusKey, record);
      }
    },
  };
}
