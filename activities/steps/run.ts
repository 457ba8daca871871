import { dirname, join } from 'node:path';
import { runStep } from '../../common/step-kinds/run.ts';
import type { ActivityDeps, RunStepSettings } from '../deps.ts';
import { runAttempt } from '../run/run-attempt.ts';
import { defineStep } from './define-step.ts';
import { HEARTBEAT_EVERY_MS, type HeartbeatThrottleOptions } from './heartbeat-throttle.ts';

/** Where run steps work when the worker gave no settings (in-process tests): under the scratch folder. */
export function defaultRunSettings(scratchDir: string): RunStepSettings {
  const runDir = join(scratchDir, 'run');
  return {
    runDir,
    envsDir: join(runDir, 'envs'),
    checkpointIntervalMs: 30_000,
    // The Node.js running this worker first, so `node` commands find it.
    commandPath: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
    lang: 'C.UTF-8',
  };
}

/**
 * A run step's command may print nothing for minutes: its latest details repeat every second, so
 * a short heartbeat timeout catches a dead worker and a cancellation reaches the command quickly.
 */
export const RUN_HEARTBEAT = { everyMs: HEARTBEAT_EVERY_MS, repeatMs: HEARTBEAT_EVERY_MS } as const satisfies HeartbeatThrottleOptions;

/** The `run` step: the user's own code as a durable, cached, resumable step (activities/run/run-attempt.ts). */
export const createRunActivity = defineStep(
  runStep,
  (deps: ActivityDeps) => {
    const settings = deps.run ?? defaultRunSettings(deps.scratchDir);
    return async ({ input, context, log, heartbeat, signal, info }) =>
      runAttempt({ input, context, attempt: info.attempt, store: deps.store, settings, log, heartbeat, signal });
  },
  { heartbeat: RUN_HEARTBEAT },
);
