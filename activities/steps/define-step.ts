import { Context, type Info } from '@temporalio/activity';
import type { Logger } from '@temporalio/common';
import { z } from 'zod';
import { PipelineSpecError } from '../../common/errors.ts';
import type { StepActivity, StepContext, StepOutputs } from '../../common/step-activities.ts';
import type { StepKind } from '../../common/step-kind.ts';
import type { ActivityDeps } from '../deps.ts';
import { heartbeatThrottle, type HeartbeatThrottleOptions } from './heartbeat-throttle.ts';

/** What a step implementation gets for one attempt: its parsed inputs and the activity's context. */
export interface StepRun<Input> {
  /** The step's `with:`, parsed (defaults applied) with its kind's input schema. */
  input: Input;
  context: StepContext;
  log: Logger;
  /** Reports progress details (bytes, images, epoch, loss); throttled, the latest is never dropped. */
  heartbeat(details: object): void;
  /** Aborted when the workflow cancels the step (it learns so through heartbeats). */
  signal: AbortSignal;
  /** The attempt, the workflow execution, … of this activity. */
  info: Info;
  /** Sleeps, rejecting with CancelledFailure when the step is cancelled. */
  sleep(ms: number): Promise<void>;
}

/** Runs one attempt of a step: returns its declared outputs (and any volatile extras). */
export type StepHandler<Input, Output> = (run: StepRun<Input>) => Promise<Output & StepOutputs>;

export interface StepDefinitionOptions {
  /** How the step's heartbeats are throttled. @default at most one a second, no repeat */
  heartbeat?: Pick<HeartbeatThrottleOptions, 'everyMs' | 'repeatMs'>;
}

/** A step kind's activity, keyed by the name its kind declares, built from the worker's deps. */
export type StepActivityFactory<Name extends string> = (deps: ActivityDeps) => Record<Name, StepActivity>;

/**
 * Defines the activity that runs a step kind. Every step activity validates its `with:` the same
 * way (one error format, naming the step and the field), throttles heartbeats the same way and
 * gets the same context; `implement` receives the worker's deps once and returns the handler
 * (so per-worker set-up, such as selecting a training engine, happens once).
 */
export function defineStep<Input extends z.ZodType, Output extends z.ZodType, Name extends string>(
  kind: StepKind<Input, Output> & { activity: Name },
  implement: (deps: ActivityDeps) => StepHandler<z.output<Input>, z.output<Output>>,
  options: StepDefinitionOptions = {},
): StepActivityFactory<Name> {
  return (deps) => {
    const handler = implement(deps);
    const activity: StepActivity = async (input, context) => {
      const parsed = kind.input.safeParse(input);
      if (!parsed.success) {
        throw new PipelineSpecError(`Invalid inputs of ${kind.uses} step "${context.stepId}": ${z.prettifyError(parsed.error)}`);
      }
      const current = Context.current();
      const throttle = heartbeatThrottle((details: object) => current.heartbeat(details), options.heartbeat);
      try {
        return await handler({
          input: parsed.data,
          context,
          log: current.log,
          heartbeat: (details) => throttle.beat(details),
          signal: current.cancellationSignal,
          info: current.info,
          sleep: (ms) => current.sleep(ms),
        });
      } finally {
        throttle.stop();
      }
    };
    // A computed key widens to `string`; the key is the kind's own name, so the record is exact.
    return { [kind.activity]: activity } as Record<Name, StepActivity>;
  };
}
