import { setTimeout as sleep } from 'node:timers/promises';
import { PipelineError } from '../../common/errors.ts';
import { stepLogLabel, type StepLogChunk, type StepLogStatus, type StepLogsResponse } from '../../common/step-log.ts';
import type { StepState } from '../../common/pipeline-progress.ts';
import type { RunView } from './run-view.ts';

/**
 * `mlp logs`: prints the streamed logs of a run's `run` steps (common/step-log.ts) — one step's,
 * a sweep trial's (`fit#2`), or every step's, each line prefixed with its step — and with
 * `--follow` keeps printing what they gain until the step (or the run) has finished. The reads
 * and the run's view come in as functions, so this file is pure of Temporal.
 */

/** How long one read of a followed, quiet log waits for news before the follower looks at the run again. */
export const FOLLOW_WAIT_MS = 10_000;

/** Which logs to print: a step, a trial of a sweep step, an attempt (default: the latest). */
export interface LogSelection {
  stepId?: string;
  trial?: number;
  attempt?: number;
}

/** One printed line with where it comes from. */
export interface LogLine {
  step: string;
  trial?: number;
  attempt: number;
  line: string;
}

/** A whole log as `mlp logs --json` prints it. */
export interface PrintedLog {
  step: string;
  trial?: number;
  attempt: number;
  /** Every attempt with a log. */
  attempts: number[];
  /** Null while the attempt runs (or when its worker died before recording it). */
  status: StepLogStatus | null;
  lines: string[];
}

/** `fit` or `fit#2` (trial 2 of the sweep step `fit`). */
export function parseStepArgument(argument: string | undefined): Pick<LogSelection, 'stepId' | 'trial'> {
  if (argument === undefined) return {};
  const match = /^(.+)#(\d+)$/.exec(argument);
  return match === null ? { stepId: argument } : { stepId: match[1] ?? argument, trial: Number(match[2]) };
}

/** Throws a PipelineError naming the run's steps (or the sweep's trials) when the selection names none of them. */
export function checkSelection(view: RunView, selection: LogSelection): void {
  if (selection.stepId === undefined) return;
  const step = view.steps.find((candidate) => candidate.id === selection.stepId);
  if (step === undefined) {
    throw new PipelineError(`Run ${view.workflowId} has no step '${selection.stepId}'; its steps: ${view.steps.map((candidate) => candidate.id).join(', ')}`);
  }
  if (selection.trial === undefined) return;
  if (step.trials === undefined) throw new PipelineError(`Step '${step.id}' of run ${view.workflowId} is not a sweep: it has no trial #${selection.trial}`);
  if (!step.trials.some((trial) => trial.index === selection.trial)) {
    throw new PipelineError(`Step '${step.id}' of run ${view.workflowId} has no trial #${selection.trial}; its trials: ${step.trials.map((trial) => `#${trial.index}`).join(', ')}`);
  }
}

function selectedState(view: RunView, selection: LogSelection): StepState | undefined {
  const step = view.steps.find((candidate) => candidate.id === selection.stepId);
  if (selection.trial === undefined) return step?.state;
  return step?.trials?.find((trial) => trial.index === selection.trial)?.state;
}

const UNFINISHED_STATES: readonly StepState[] = ['pending', 'running'];

/** Whether nothing more will be written to the selected logs: the step (or trial) or the whole run has finished. */
export function selectionFinished(view: RunView, selection: LogSelection): boolean {
  if (view.status !== 'RUNNING') return true;
  if (selection.stepId === undefined) return false;
  const state = selectedState(view, selection);
  return state !== undefined && !UNFINISHED_STATES.includes(state);
}

/** Whether the followed step (or run) ended in failure or cancellation: `mlp logs --follow` then exits 1. */
export function selectionFailed(view: RunView, selection: LogSelection): boolean {
  if (selection.stepId === undefined) return view.status !== 'COMPLETED' && view.status !== 'RUNNING';
  const state = selectedState(view, selection);
  return state === 'failed' || state === 'cancelled';
}

/** Why a selection has no log, for the person reading (only `run` steps write logs). */
export function noLogsReason(view: RunView, selection: LogSelection, sources: StepLogsResponse['sources']): string {
  const run = view.workflowId;
  if (selection.stepId === undefined) {
    const runSteps = view.steps.filter((step) => step.uses === 'run').map((step) => step.id);
    return runSteps.length === 0
      ? `Run ${run} has no run steps: only run steps write logs (mlp show ${run} shows the others)`
      : `Run ${run} has no step logs yet; its run steps: ${runSteps.join(', ')}`;
  }
  const label = stepLogLabel({ stepId: selection.stepId, ...(selection.trial === undefined ? {} : { trial: selection.trial }) });
  const step = view.steps.find((candidate) => candidate.id === selection.stepId);
  if (step !== undefined && step.uses !== 'run') return `Step '${label}' (uses: ${step.uses}) writes no logs: only run steps do (mlp show ${run} shows its outputs)`;
  if (selection.attempt !== undefined) {
    const attempts = sources.filter((source) => source.stepId === selection.stepId && (selection.trial === undefined || source.trial === selection.trial)).flatMap((source) => source.attempts);
    if (attempts.length > 0) return `Step '${label}' of run ${run} has no attempt ${selection.attempt}; its attempts: ${[...new Set(attempts)].sort((a, b) => a - b).join(', ')}`;
  }
  const state = selectedState(view, selection);
  switch (state) {
    case 'cached':
      return `Step '${label}' of run ${run} was served from the cache: it ran in an earlier run, whose logs that run's mlp logs prints`;
    case 'reused':
      return `Step '${label}' of run ${run} reused the outputs of ${step?.reusedFrom ?? 'an earlier run'}: its logs are that run's`;
    case 'pending':
      return `Step '${label}' of run ${run} has not started yet (mlp logs --follow waits for it)`;
    default:
      return `Step '${label}' of run ${run} has written no logs${state === undefined ? '' : ` (it is ${state})`}`;
  }
}

export interface StreamStepLogsOptions {
  selection: LogSelection;
  /** The run's view when the command started (its steps were checked against the selection). */
  view: RunView;
  /**
   * One read of every selected log from the offsets reached so far (a `readStepLogs` workflow),
   * waiting up to `waitMs` for something new; `complete` names the logs already seen complete.
   */
  read: (offsets: Record<string, number>, poll: { waitMs: number; complete: string[] }) => Promise<StepLogsResponse>;
  /** Keep printing what the logs gain until the selection has finished. */
  follow: boolean;
  /** The run's view again, between follow polls. */
  refreshView: () => Promise<RunView>;
  /** Least time between two reads that found lines. @default 2000 (the worker uploads a running log at most every 2 s) */
  intervalMs?: number;
  /** How long one read of a quiet log waits for news (a long poll). @default FOLLOW_WAIT_MS */
  waitMs?: number;
  onLine: (line: LogLine) => void;
  /** Which attempt is shown, a log still being written: for the person, not the log. */
  onNotice: (message: string) => void;
  /** @default node:timers/promises setTimeout */
  wait?: (ms: number) => Promise<void>;
}

export interface StreamedLogs {
  /** Every log printed, whole (`--json` without `--follow`). */
  logs: PrintedLog[];
  /** The view last read: after `--follow`, the finished one. */
  view: RunView;
}

/**
 * Prints the selected logs. Without `follow`: each whole, in the run's step order, or a
 * PipelineError saying why there is none. With `follow`: lines as they arrive until the
 * selection has finished — the view is read before each read of the logs, so the last read
 * comes after the step ended and holds the complete log.
 */
export async function streamStepLogs(options: StreamStepLogsOptions): Promise<StreamedLogs> {
  const { selection, follow, intervalMs = 2_000, waitMs = FOLLOW_WAIT_MS, onLine, onNotice, wait = (ms) => sleep(ms) } = options;
  let view = options.view;
  const offsets: Record<string, number> = {};
  const complete = new Set<string>();
  const shownAttempt = new Map<string, number>();
  const whole = new Map<string, { chunk: StepLogChunk; lines: string[]; attempts: number[] }>();
  let waitingAnnounced = false;
  let sawLog = false;

  const readAll = async (firstWaitMs: number): Promise<{ chunks: StepLogChunk[]; sources: StepLogsResponse['sources'] }> => {
    const chunks: StepLogChunk[] = [];
    for (let reads = 0; ; reads++) {
      const response = await options.read(offsets, { waitMs: reads === 0 ? firstWaitMs : 0, complete: [...complete] });
      const sources = response.sources;
      const selected = response.logs.filter((chunk) => selection.trial === undefined || chunk.trial === selection.trial);
      for (const chunk of selected) {
        offsets[chunk.key] = chunk.nextOffset;
        if (chunk.status !== null) complete.add(chunk.key);
      }
      chunks.push(...selected);
      // The answer's byte budget ran out before the end of a log: read on at once.
      const more = selected.some((chunk) => chunk.text !== '') && selected.some((chunk) => chunk.nextOffset < chunk.size);
      if (!more) return { chunks: inStepOrder(chunks, view), sources };
    }
  };

  for (;;) {
    const finished = follow && selectionFinished(view, selection);
    // A follower waits in the read for news of a quiet log; the last read after the end does not.
    const { chunks, sources } = await readAll(follow && !finished ? waitMs : 0);
    for (const chunk of chunks) {
      const label = stepLogLabel(chunk);
      const attempts = sources.find((source) => source.stepId === chunk.stepId && source.trial === chunk.trial)?.attempts ?? [chunk.attempt];
      const lines = chunk.text === '' ? [] : chunk.text.slice(0, -1).split('\n');
      if (!follow) {
        const entry = whole.get(chunk.key) ?? { chunk, lines: [], attempts };
        entry.chunk = chunk;
        entry.lines.push(...lines);
        whole.set(chunk.key, entry);
        continue;
      }
      sawLog = true;
      if (lines.length === 0) continue;
      // Which attempt the lines below are from, whenever it changes (retries, a failed attempt's last lines).
      if (shownAttempt.get(label) !== chunk.attempt && (shownAttempt.has(label) || chunk.attempt > 1)) onNotice(`${label}: attempt ${chunk.attempt}`);
      shownAttempt.set(label, chunk.attempt);
      for (const line of lines) onLine({ step: chunk.stepId, ...(chunk.trial === undefined ? {} : { trial: chunk.trial }), attempt: chunk.attempt, line });
    }
    if (!follow) {
      if (whole.size === 0) throw new PipelineError(noLogsReason(view, selection, sources));
      const logs = inStepOrder([...whole.values()].map((entry) => entry.chunk), view).map((chunk): PrintedLog => {
        const entry = whole.get(chunk.key);
        const attempts = entry?.attempts ?? [chunk.attempt];
        const label = stepLogLabel(chunk);
        if (selection.attempt === undefined && attempts.length > 1) onNotice(`${label}: attempt ${chunk.attempt} of ${attempts.join(', ')} (--attempt N shows another)`);
        if (chunk.status === null) onNotice(`${label}: attempt ${chunk.attempt} has not ended (or its worker stopped): its log so far`);
        for (const line of entry?.lines ?? []) onLine({ step: chunk.stepId, ...(chunk.trial === undefined ? {} : { trial: chunk.trial }), attempt: chunk.attempt, line });
        return { step: chunk.stepId, ...(chunk.trial === undefined ? {} : { trial: chunk.trial }), attempt: chunk.attempt, attempts, status: chunk.status, lines: entry?.lines ?? [] };
      });
      return { logs, view };
    }
    if (finished) {
      if (!sawLog) onNotice(noLogsReason(view, selection, sources));
      return { logs: [], view };
    }
    if (!sawLog && !waitingAnnounced) {
      onNotice(`waiting for ${selection.stepId === undefined ? 'the run’s steps' : `'${stepLogLabel({ stepId: selection.stepId, ...(selection.trial === undefined ? {} : { trial: selection.trial }) })}'`} to write logs`);
      waitingAnnounced = true;
    }
    // A busy log is read at most once per interval; a quiet one already waited in the read.
    if (chunks.some((chunk) => chunk.text !== '')) await wait(intervalMs);
    view = await options.refreshView();
  }
}

/** Logs in the order of the run's steps, a sweep's trials by index. */
function inStepOrder(chunks: StepLogChunk[], view: RunView): StepLogChunk[] {
  const order = new Map(view.steps.map((step, index) => [step.id, index]));
  return [...chunks].sort((a, b) => (order.get(a.stepId) ?? Infinity) - (order.get(b.stepId) ?? Infinity) || (a.trial ?? -1) - (b.trial ?? -1));
}

/** A line as printed: bare for one step's log, `<step> | ` or `<step>#<n> | ` before it when several logs share the output. */
export function formatLogLine(line: LogLine, prefixed: boolean): string {
  return prefixed ? `${stepLogLabel({ stepId: line.step, ...(line.trial === undefined ? {} : { trial: line.trial }) })} | ${line.line}` : line.line;
}
