import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import cliProgress from 'cli-progress';
import { describeRunFailure, formatRunFailure, type RunFailure } from './failure.ts';
import { followHistory } from './history-follower.ts';
import { info } from '../output.ts';
import { stepBar } from './progress-bars.ts';
import { trialActivityId } from '../../common/step-activity-ids.ts';
import { formatTrialMatrix } from '../../common/sweep.ts';
import { loadRunView, type RunView } from './run-view.ts';

/**
 * `mlp watch`: polls a run's view until it closes and hands each snapshot to a renderer — bars
 * on a terminal, one line per step change otherwise, JSON lines with `--json`. The history is
 * read incrementally (client/runs/history-follower.ts): each poll fetches only the new events.
 */

export interface WatchRenderer {
  update(view: RunView): void;
  end(view: RunView, failure: RunFailure | undefined): void;
}

export interface WatchOptions {
  intervalMs: number;
  queryTimeoutMs?: number;
}

/** Follows the run until Temporal reports it closed; returns its last view and failure. */
export async function watchRun(
  client: Client,
  workflowId: string,
  runId: string | undefined,
  renderer: WatchRenderer,
  options: WatchOptions,
): Promise<{ view: RunView; failure?: RunFailure }> {
  // Pin the run: a later run under the same workflow id is not this one.
  const pinned = runId ?? (await client.workflow.getHandle(workflowId).describe()).runId;
  const handle = client.workflow.getHandle(workflowId, pinned);
  const history = followHistory(client, workflowId, pinned);
  await history.poll(options.intervalMs);
  const viewOptions = {
    ...(options.queryTimeoutMs === undefined ? {} : { queryTimeoutMs: options.queryTimeoutMs }),
    history: async (running: boolean) => {
      if (!running) await history.readToEnd(options.intervalMs);
      return { events: [...history.events] };
    },
  };
  for (;;) {
    const view = await loadRunView(client, handle, viewOptions);
    renderer.update(view);
    if (view.status !== 'RUNNING') {
      let failure: RunFailure | undefined;
      if (view.status !== 'COMPLETED') {
        failure = await handle.result().then(
          () => undefined,
          (error: unknown) => (error instanceof WorkflowFailedError ? describeRunFailure(error) : { type: 'Error', message: String(error) }),
        );
      }
      renderer.end(view, failure);
      return { view, ...(failure === undefined ? {} : { failure }) };
    }
    // The interval paces the polls; the history's long poll meanwhile collects the new events.
    await Promise.all([sleep(options.intervalMs), history.poll(options.intervalMs)]);
  }
}

/** JSON lines on stdout: a `progress` line whenever the view changed, then one `end` line. */
export function jsonLinesRenderer(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): WatchRenderer {
  let last = '';
  return {
    update(view) {
      const line = JSON.stringify({ event: 'progress', at: new Date().toISOString(), ...view });
      const content = JSON.stringify(view);
      if (content === last) return;
      last = content;
      write(line);
    },
    end(view, failure) {
      write(JSON.stringify({ event: 'end', workflowId: view.workflowId, runId: view.runId, status: view.status, state: view.state, ...(failure ? { failure } : {}) }));
    },
  };
}

/** A line on stderr whenever a step changes state (for logs and pipes). */
export function lineRenderer(): WatchRenderer {
  const states = new Map<string, string>();
  return {
    update(view) {
      if (view.note && !states.has('#note')) {
        states.set('#note', view.note);
        info(`note: ${view.note}`);
      }
      for (const step of view.steps) {
        if (states.get(step.id) === step.state) continue;
        states.set(step.id, step.state);
        info(`${step.id}: ${step.state}${step.state === 'running' || step.state === 'pending' ? '' : ` (${stepBar(step).detail})`}`);
      }
      // A sweep's trials: one line per trial state change, with its settings and metric.
      for (const step of view.steps) {
        for (const trial of step.trials ?? []) {
          const id = trialActivityId(step.id, trial.index);
          const state = `${trial.state}${trial.selected === true ? ' selected' : ''}`;
          if (states.get(id) === state || trial.state === 'pending') continue;
          states.set(id, state);
          const metric = trial.metric === undefined ? '' : ` metric ${Number(trial.metric.toFixed(6))}`;
          info(`${id}: ${trial.state} (${formatTrialMatrix(trial.matrix)})${metric}${trial.selected === true ? ' <- selected' : ''}${trial.error ? ` — ${trial.error}` : ''}`);
        }
      }
    },
    end(view, failure) {
      info(`${view.workflowId}: ${view.status.toLowerCase()}${failure ? ` — ${formatRunFailure(failure)}` : ''}`);
    },
  };
}

/** cli-progress bars on stderr, one per step. */
export function barRenderer(): WatchRenderer {
  const multibar = new cliProgress.MultiBar(
    { format: ' {step} |{bar}| {detail}', hideCursor: true, clearOnComplete: false, barsize: 30, autopadding: true },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    update(view) {
      const width = Math.max(...view.steps.map((step) => step.id.length));
      for (const step of view.steps) {
        const state = stepBar(step);
        const payload = { step: step.id.padEnd(width), detail: `${step.state.padEnd(9)} ${state.detail}` };
        let bar = bars.get(step.id);
        if (bar === undefined) {
          bar = multibar.create(Math.max(state.total, 1), 0, payload);
          bars.set(step.id, bar);
        }
        bar.setTotal(Math.max(state.total, 1));
        bar.update(state.total === 0 ? 0 : state.value, payload);
      }
    },
    end(view, failure) {
      multibar.stop();
      info(`${view.workflowId}: ${view.status.toLowerCase()}${failure ? ` — ${formatRunFailure(failure)}` : ''}`);
    },
  };
}
