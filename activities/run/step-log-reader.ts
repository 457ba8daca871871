import { setTimeout as sleep } from 'node:timers/promises';
import { PipelineSpecError } from '../../common/errors.ts';
import { stepLogKey, stepLogStatusKey, unsafeObjectKeyReason } from '../../common/object-keys.ts';
import { stepRunPrefix, trialRunPrefix } from '../../common/step-activities.ts';
import {
  parseStepLogKey,
  STEP_LOGS_MAX_BYTES,
  STEP_LOGS_MAX_WAIT_MS,
  StepLogStatusSchema,
  type StepLogChunk,
  type StepLogsRequest,
  type StepLogsResponse,
} from '../../common/step-log.ts';
import type { ActivityDeps } from '../deps.ts';
import type { ObjectStore } from '../object-store.ts';

/** What reading logs needs of the store. */
export type StepLogSource = Pick<ObjectStore, 'listWithInfo' | 'getJson' | 'getRange'>;

/**
 * Reads the streamed logs of a run's steps for `mlp logs` (through workflows/step-logs.ts): lists
 * `runs/<workflowId>/[<stepId>/]`, picks one attempt of each step's and sweep trial's log, and
 * returns the whole lines each gained since the offset the reader reached (ranged GETs), so a
 * reader following a live log fetches only what is new. With `waitMs`, waits for something new.
 */
export async function readStepLogs(store: StepLogSource, request: StepLogsRequest, clock: LongPollClock = realClock): Promise<StepLogsResponse> {
  const deadline = clock.now() + Math.min(Math.max(request.waitMs ?? 0, 0), STEP_LOGS_MAX_WAIT_MS);
  for (;;) {
    const response = await readOnce(store, request);
    if (clock.now() >= deadline || hasNews(request, response)) return response;
    await clock.sleep(LONG_POLL_EVERY_MS);
  }
}

/** Time for the long poll; tests pass their own. */
export interface LongPollClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: LongPollClock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

/** Between two looks of a long poll (the writer uploads at most every 2 s). */
const LONG_POLL_EVERY_MS = 1_000;

/** Whether the reader learns something: a line, a log it has not read from yet, or a log that became complete. */
function hasNews(request: StepLogsRequest, response: StepLogsResponse): boolean {
  const complete = new Set(request.complete ?? []);
  return response.logs.some((chunk) => chunk.text !== '' || request.offsets[chunk.key] === undefined || (chunk.status !== null && !complete.has(chunk.key)));
}

async function readOnce(store: StepLogSource, request: StepLogsRequest): Promise<StepLogsResponse> {
  const prefix = logsPrefix(request);
  const sources = new Map<string, { stepId: string; trial?: number; logs: Map<number, number>; statuses: Set<number> }>();
  for (const object of await store.listWithInfo(prefix)) {
    const parts = parseStepLogKey(request.workflowId, object.key);
    if (parts === undefined || (request.stepId !== undefined && parts.stepId !== request.stepId)) continue;
    const id = `${parts.stepId}#${parts.trial ?? ''}`;
    let source = sources.get(id);
    if (source === undefined) {
      source = { stepId: parts.stepId, ...(parts.trial === undefined ? {} : { trial: parts.trial }), logs: new Map(), statuses: new Set() };
      sources.set(id, source);
    }
    if (parts.kind === 'log') source.logs.set(parts.attempt, object.size);
    else source.statuses.add(parts.attempt);
  }

  let budget = Math.min(request.maxBytes ?? STEP_LOGS_MAX_BYTES, STEP_LOGS_MAX_BYTES);
  const complete = new Set(request.complete ?? []);
  const logs: StepLogChunk[] = [];
  const available: StepLogsResponse['sources'] = [];
  for (const source of sources.values()) {
    const attempts = [...source.logs.keys()].sort((a, b) => a - b);
    if (attempts.length > 0) available.push({ stepId: source.stepId, ...(source.trial === undefined ? {} : { trial: source.trial }), attempts });
    const runPrefix = source.trial === undefined ? stepRunPrefix(request.workflowId, source.stepId) : trialRunPrefix(request.workflowId, source.stepId, source.trial);
    const selected = request.attempt ?? attempts.at(-1);
    // Without --attempt, also the rest of an earlier attempt the reader is in the middle of: the
    // last lines of a failed attempt (its traceback) come with its close, after the retry may
    // have started.
    const unfinished = request.attempt === undefined ? attempts.filter((attempt) => request.offsets[stepLogKey(runPrefix, attempt)] !== undefined && !complete.has(stepLogKey(runPrefix, attempt))) : [];
    for (const attempt of [...new Set([...unfinished, ...(selected === undefined ? [] : [selected])])].sort((a, b) => a - b)) {
      const size = source.logs.get(attempt);
      if (size === undefined) continue;
      const key = stepLogKey(runPrefix, attempt);
      const status = source.statuses.has(attempt) ? StepLogStatusSchema.parse(await store.getJson(stepLogStatusKey(runPrefix, attempt))) : null;
      const offset = Math.min(request.offsets[key] ?? 0, size);
      const bytes = await store.getRange(key, offset, Math.min(size - offset, budget));
      const text = wholeLines(bytes, offset + bytes.length < size);
      budget -= text.length;
      logs.push({
        stepId: source.stepId,
        ...(source.trial === undefined ? {} : { trial: source.trial }),
        attempt,
        key,
        size,
        status,
        offset,
        nextOffset: offset + text.length,
        text: text.toString('utf8'),
      });
    }
  }
  return { logs, sources: available };
}

/**
 * The complete lines of a read (a line cut by the end of the read waits for the next one), or
 * everything when one line alone is longer than the read could be.
 */
function wholeLines(bytes: Buffer, cutShort: boolean): Buffer {
  const end = bytes.lastIndexOf(0x0a);
  if (end === bytes.length - 1) return bytes;
  if (end >= 0) return bytes.subarray(0, end + 1);
  return cutShort ? bytes : Buffer.alloc(0);
}

function logsPrefix(request: StepLogsRequest): string {
  if (request.stepId !== undefined && request.stepId.includes('/')) throw new PipelineSpecError(`Invalid step id '${request.stepId}': a step id has no /`);
  const prefix = `runs/${request.workflowId}/${request.stepId === undefined ? '' : `${request.stepId}/`}`;
  const reason = unsafeObjectKeyReason(prefix) ?? (request.workflowId.includes('/') ? 'the run id has a /' : undefined);
  if (reason !== undefined) throw new PipelineSpecError(`Cannot read the logs of run '${request.workflowId}': ${reason}`);
  return prefix;
}

/** The activity behind `mlp logs`. */
export function createStepLogActivities({ store }: Pick<ActivityDeps, 'store'>) {
  return {
    async stepLogsRead(request: StepLogsRequest): Promise<StepLogsResponse> {
      return readStepLogs(store, request);
    },
  };
}

export type StepLogActivities = ReturnType<typeof createStepLogActivities>;
