import { constants } from 'node:os';
import { info } from '../output.ts';
import { FORWARDED_SIGNALS, type WorkerGroup } from '../workers/worker-group.ts';

/** What the demo tells its interrupt handler as it goes: the workers to stop, the run to name. */
export interface DemoInterrupts {
  /** The demo's workers: a stop request shuts them down gracefully before the demo exits. */
  stopping(workers: WorkerGroup): void;
  /** The submitted run: the stop message says how to resume it. */
  submitted(workflowId: string): void;
}

/**
 * SIGTERM, SIGINT or SIGHUP to `mlp demo`: the demo submits nothing more, shuts its own workers
 * down within their grace period (a running activity may finish or is cancelled, and Temporal
 * retries it later), prints one line saying what stopped and how to resume, and exits with
 * 128 + the signal's number (143 for SIGTERM, 130 for Ctrl-C). The run itself stays open and
 * untouched, as do the user's other runs: it goes on as soon as any worker polls its queues. A
 * second signal stops the workers at once.
 */
export function handleDemoInterrupts(): DemoInterrupts {
  let workers: WorkerGroup | undefined;
  let workflowId: string | undefined;
  let received: NodeJS.Signals | undefined;
  const exitCode = (signal: NodeJS.Signals): number => 128 + constants.signals[signal];

  const onSignal = (signal: NodeJS.Signals): void => {
    if (received !== undefined) {
      workers?.kill('SIGKILL');
      process.exit(exitCode(received));
    }
    received = signal;
    const resume =
      workflowId === undefined
        ? 'no run was submitted'
        : `run ${workflowId} stays open and resumes when a worker polls: ./mlp worker, then ./mlp watch ${workflowId}`;
    info(`Stopped by ${signal}: ${workers === undefined ? 'nothing was running' : "shutting down the demo's workers"}; ${resume}`);
    if (workers === undefined) process.exit(exitCode(signal));
    workers.kill('SIGTERM');
    void workers.exited.then(() => process.exit(exitCode(signal)));
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, onSignal);

  return {
    stopping: (group) => {
      workers = group;
    },
    submitted: (id) => {
      workflowId = id;
    },
  };
}
