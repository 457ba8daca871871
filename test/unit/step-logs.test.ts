import assert from 'node:assert/strict';
import { readStepLogs } from '../../activities/run/step-log-reader.ts';
import { createStepLogWriter, type StepLogWriter } from '../../activities/run/step-log.ts';
import type { RunView } from '../../client/runs/run-view.ts';
import { checkSelection, formatLogLine, parseStepArgument, selectionFailed, streamStepLogs, type LogLine, type LogSelection } from '../../client/runs/step-logs.ts';
import type { StepProgressView } from '../../client/runs/progress.ts';
import type { StepState } from '../../common/pipeline-progress.ts';
import { stepLogKey, stepLogStatusKey } from '../../common/object-keys.ts';
import { stepRunPrefix, trialRunPrefix } from '../../common/step-activities.ts';
import { PipelineError } from '../../common/errors.ts';
import { MemoryLogStore } from '../helpers/memory-log-store.ts';

const RUN = 'tabular-r1';

function step(id: string, state: StepState, extra: Partial<StepProgressView> = {}): StepProgressView {
  return { id, uses: 'run', queue: 'cpu', state, cached: state === 'cached', ...extra };
}

function runView(status: string, steps: StepProgressView[]): RunView {
  return {
    workflowId: RUN,
    runId: 'r',
    pipeline: 'tabular',
    specHash: 'h',
    state: status === 'RUNNING' ? 'running' : 'succeeded',
    startedAt: '2026-01-01T00:00:00Z',
    status,
    taskQueue: 'q',
    source: 'query',
    metrics: {},
    artifacts: [],
    reports: {},
    steps,
  };
}

const ended = { exitCode: 0, signal: null, startedAt: '2026-01-01T00:00:00Z', endedAt: '2026-01-01T00:01:00Z' };

/**
 * `mlp logs` from end to end without servers: logs written by the real writer into an in-memory
 * store, read by the real reader activity, printed by the CLI's streaming loop.
 */
describe('mlp logs: printing and following run step logs', () => {
  let store: MemoryLogStore;
  beforeEach(() => {
    store = new MemoryLogStore();
  });

  async function writeLog(runPrefix: string, attempt: number, lines: string[], done = true): Promise<StepLogWriter> {
    const writer = createStepLogWriter({ store, key: stepLogKey(runPrefix, attempt), flushIntervalMs: 60_000 });
    for (const line of lines) writer.append(line);
    if (done) await writer.close({ attempt, ...ended });
    return writer;
  }

  async function print(view: RunView, selection: LogSelection, maxBytes?: number): Promise<{ lines: LogLine[]; notices: string[] }> {
    const lines: LogLine[] = [];
    const notices: string[] = [];
    checkSelection(view, selection);
    await streamStepLogs({
      selection,
      view,
      read: (offsets) => readStepLogs(store, { workflowId: RUN, ...selection, offsets, ...(maxBytes === undefined ? {} : { maxBytes }) }),
      follow: false,
      refreshView: () => Promise.resolve(view),
      onLine: (line) => lines.push(line),
      onNotice: (notice) => notices.push(notice),
    });
    return { lines, notices };
  }

  it('prints every step’s log in the run’s step order, each line prefixed by its step or sweep trial', async () => {
    await writeLog(trialRunPrefix(RUN, 'fit', 1), 1, ['C=1.0 auc 0.97']);
    await writeLog(trialRunPrefix(RUN, 'fit', 0), 1, ['C=0.1 auc 0.95']);
    await writeLog(stepRunPrefix(RUN, 'prepare'), 1, ['569 rows', 'split 80/20']);
    const view = runView('COMPLETED', [
      step('prepare', 'succeeded'),
      step('fit', 'succeeded', { trials: [0, 1].map((index) => ({ index, matrix: {}, state: 'succeeded' as const })) }),
      step('evaluate', 'succeeded', { uses: 'evaluate' }),
    ]);
    const { lines } = await print(view, {});
    assert.deepEqual(
      lines.map((line) => formatLogLine(line, true)),
      ['prepare | 569 rows', 'prepare | split 80/20', 'fit#0 | C=0.1 auc 0.95', 'fit#1 | C=1.0 auc 0.97'],
    );
    const trial = await print(view, { ...parseStepArgument('fit#1') });
    assert.deepEqual(trial.lines.map((line) => line.line), ['C=1.0 auc 0.97']);
  });

  it('prints the latest attempt by default, saying so, and an earlier one with --attempt', async () => {
    await writeLog(stepRunPrefix(RUN, 'fit'), 1, ['attempt one', 'Killed']);
    await writeLog(stepRunPrefix(RUN, 'fit'), 2, ['attempt two', 'resumed from epoch 3']);
    const view = runView('COMPLETED', [step('fit', 'succeeded')]);
    const latest = await print(view, { stepId: 'fit' });
    assert.deepEqual(latest.lines.map((line) => [line.attempt, line.line]), [[2, 'attempt two'], [2, 'resumed from epoch 3']]);
    assert.deepEqual(latest.notices, ['fit: attempt 2 of 1, 2 (--attempt N shows another)']);
    const first = await print(view, { stepId: 'fit', attempt: 1 });
    assert.deepEqual(first.lines.map((line) => line.line), ['attempt one', 'Killed']);
    await assert.rejects(print(view, { stepId: 'fit', attempt: 3 }), { name: 'PipelineError', message: `Step 'fit' of run ${RUN} has no attempt 3; its attempts: 1, 2` });
  });

  it('reads a log larger than one answer in whole lines, across several reads', async () => {
    const many = Array.from({ length: 50 }, (_, i) => `line ${i} ${'x'.repeat(i % 7)}`);
    await writeLog(stepRunPrefix(RUN, 'fit'), 1, many);
    const { lines } = await print(runView('COMPLETED', [step('fit', 'succeeded')]), { stepId: 'fit' }, 64);
    assert.deepEqual(lines.map((line) => line.line), many);
  });

  it('names the run’s steps for an unknown step, and says why a step has no log', async () => {
    const view = runView('RUNNING', [
      step('prepare', 'cached'),
      step('fit', 'pending'),
      step('fit2', 'succeeded', { trials: [{ index: 0, matrix: {}, state: 'succeeded' }] }),
      step('evaluate', 'pending', { uses: 'evaluate' }),
    ]);
    assert.throws(() => checkSelection(view, { stepId: 'fitt' }), { message: `Run ${RUN} has no step 'fitt'; its steps: prepare, fit, fit2, evaluate` });
    assert.throws(() => checkSelection(view, { stepId: 'fit2', trial: 4 }), { message: `Step 'fit2' of run ${RUN} has no trial #4; its trials: #0` });
    assert.throws(() => checkSelection(view, { stepId: 'fit', trial: 0 }), { message: `Step 'fit' of run ${RUN} is not a sweep: it has no trial #0` });
    await assert.rejects(print(view, { stepId: 'evaluate' }), { message: `Step 'evaluate' (uses: evaluate) writes no logs: only run steps do (mlp show ${RUN} shows its outputs)` });
    await assert.rejects(print(view, { stepId: 'prepare' }), (error: unknown) => error instanceof PipelineError && /served from the cache/.test(error.message));
    await assert.rejects(print(view, { stepId: 'fit' }), { message: `Step 'fit' of run ${RUN} has not started yet (mlp logs --follow waits for it)` });
  });

  it('long-polls a quiet log: answers when a line, a new log or its status appears, or when the wait is over', async () => {
    const prefix = stepRunPrefix(RUN, 'fit');
    const key = stepLogKey(prefix, 1);
    await store.put(key, 'epoch 1\n');
    let time = 0;
    const sleeps: number[] = [];
    const worker: (() => Promise<void>)[] = [];
    const clock = {
      now: () => time,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        time += ms;
        await worker.shift()?.();
      },
    };
    const poll = (complete: string[] = []) => readStepLogs(store, { workflowId: RUN, stepId: 'fit', offsets: { [key]: 8 }, waitMs: 10_000, complete }, clock);

    worker.push(async () => {}, async () => void (await store.put(key, 'epoch 1\nepoch 2\n')));
    const grown = await poll();
    assert.equal(grown.logs[0]?.text, 'epoch 2\n');
    assert.equal(sleeps.length, 2, 'answered at the first look that found the line');

    sleeps.length = 0;
    await store.put(key, 'epoch 1\n');
    const quiet = await poll();
    assert.equal(quiet.logs[0]?.text, '');
    assert.equal(sleeps.reduce((sum, ms) => sum + ms, 0), 10_000, 'nothing new: answered when the wait was over');

    sleeps.length = 0;
    worker.push(async () => void (await store.putJson(stepLogStatusKey(prefix, 1), { attempt: 1, ...ended, bytes: 8 })));
    assert.notEqual((await poll()).logs[0]?.status, null);
    assert.equal(sleeps.length, 1, 'the log became complete');
    sleeps.length = 0;
    await poll([key]);
    assert.equal(sleeps.length, 10, 'a completion the reader has seen is not news');
  });

  it('follows a running step: lines as they are uploaded, the end of a failed attempt and the next attempt, and the rest once the step ended', async () => {
    const prefix = stepRunPrefix(RUN, 'fit');
    const running = runView('RUNNING', [step('fit', 'running')]);
    const finished = runView('COMPLETED', [step('fit', 'succeeded')]);
    const writers: StepLogWriter[] = [];
    // What happens on the worker between two polls of the follower.
    const worker: (() => Promise<RunView>)[] = [
      async () => running,
      async () => {
        writers.push(await writeLog(prefix, 1, ['epoch 1', 'epoch 2'], false));
        await store.put(stepLogKey(prefix, 1), 'epoch 1\nepoch 2\n');
        return running;
      },
      async () => {
        writers[0]?.append('Killed');
        await writers[0]?.close({ attempt: 1, ...ended, exitCode: null, signal: 'SIGKILL' });
        writers.push(await writeLog(prefix, 2, ['resumed at epoch 2'], false));
        await store.put(stepLogKey(prefix, 2), 'resumed at epoch 2\n');
        return running;
      },
      async () => {
        writers[1]?.append('epoch 3');
        writers[1]?.append('done');
        await writers[1]?.close({ attempt: 2, ...ended });
        return finished;
      },
    ];
    let polls = 0;
    const lines: string[] = [];
    const notices: string[] = [];
    const selection = { stepId: 'fit' };
    const result = await streamStepLogs({
      selection,
      view: running,
      read: (offsets, poll) => readStepLogs(store, { workflowId: RUN, stepId: 'fit', offsets, complete: poll.complete }),
      follow: true,
      refreshView: async () => {
        const next = worker[polls];
        polls += 1;
        if (next === undefined) throw new Error('the follower polled after the step had finished');
        return next();
      },
      onLine: (line) => lines.push(`${line.attempt}: ${line.line}`),
      onNotice: (notice) => notices.push(notice),
      wait: async () => {},
    });
    // Attempt 1's last line came with its close, when attempt 2 had started: the follower still
    // prints it (a failed attempt's last lines are the ones that say why), then moves on.
    assert.deepEqual(lines, ['1: epoch 1', '1: epoch 2', '1: Killed', '2: resumed at epoch 2', '2: epoch 3', '2: done']);
    assert.deepEqual(notices, ["waiting for 'fit' to write logs", 'fit: attempt 2']);
    assert.equal(polls, 4);
    assert.equal(selectionFailed(result.view, selection), false);
    assert.equal(selectionFailed(runView('FAILED', [step('fit', 'failed')]), selection), true);
  });
});
