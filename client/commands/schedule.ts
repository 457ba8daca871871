import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, ScheduleDescription, ScheduleHandle, ScheduleSummary } from '@temporalio/client';
import { Option, type Command } from 'commander';
import { dateTime, duration } from '../cli-options.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { formatCodeUpload, s3CodeArchiveStore, uploadPipelineCode } from '../pipelines/code-upload.ts';
import { info, printResult } from '../output.ts';
import { loadClientStorage } from '../storage-connection.ts';
import {
  DEFAULT_CATCHUP_WINDOW,
  fileScheduleSettings,
  OVERLAP_POLICIES,
  overlapName,
  pipelineScheduleOptions,
  type OverlapName,
} from '../pipelines/schedule-options.ts';
import { loadOrReport, withPipelineFileOptions, type PipelineFileFlags } from './pipeline-options.ts';

interface JsonFlags extends ConnectionFlags {
  json?: boolean;
}

interface CreateFlags extends PipelineFileFlags, ConnectionFlags {
  cron?: string;
  tz?: string;
  overlap?: OverlapName;
  catchupWindow: string;
  scheduleId?: string;
  paused?: boolean;
  note?: string;
}

/** How long `schedule trigger` waits to see whether the trigger started a run or was skipped. */
const TRIGGER_OUTCOME_WAIT_MS = 10_000;

const overlapOption = (description: string): Option =>
  new Option('--overlap <policy>', description).choices(Object.keys(OVERLAP_POLICIES));

/** What `schedule describe` (and `create`/`apply`) print about a schedule. */
export interface ScheduleView {
  scheduleId: string;
  pipeline?: string;
  specHash?: string;
  paused: boolean;
  note?: string;
  overlap: string;
  catchupWindowMs: number;
  timeZone?: string;
  workflowId?: string;
  nextActionTimes: string[];
  recentRuns: { workflowId: string; runId: string; scheduledAt: string; takenAt: string }[];
  runningRuns: { workflowId: string; runId: string }[];
  actionsTaken: number;
  skippedOverlap: number;
  missedCatchupWindow: number;
}

function memoString(memo: Record<string, unknown> | undefined, key: string): string | undefined {
  const value = memo?.[key];
  return typeof value === 'string' ? value : undefined;
}

export function scheduleView(description: ScheduleDescription): ScheduleView {
  const pipeline = memoString(description.memo, 'pipeline');
  const specHash = memoString(description.memo, 'specHash');
  return {
    scheduleId: description.scheduleId,
    ...(pipeline === undefined ? {} : { pipeline }),
    ...(specHash === undefined ? {} : { specHash }),
    paused: description.state.paused,
    ...(description.state.note ? { note: description.state.note } : {}),
    overlap: overlapName(description.policies.overlap),
    catchupWindowMs: description.policies.catchupWindow,
    ...(description.spec.timezone ? { timeZone: description.spec.timezone } : {}),
    ...(description.action.workflowId ? { workflowId: description.action.workflowId } : {}),
    nextActionTimes: description.info.nextActionTimes.map((time) => time.toISOString()),
    recentRuns: description.info.recentActions.map((action) => ({
      workflowId: action.action.workflow.workflowId,
      runId: action.action.workflow.firstExecutionRunId,
      scheduledAt: action.scheduledAt.toISOString(),
      takenAt: action.takenAt.toISOString(),
    })),
    runningRuns: description.info.runningActions.map((action) => ({
      workflowId: action.workflow.workflowId,
      runId: action.workflow.firstExecutionRunId,
    })),
    actionsTaken: description.info.numActionsTaken,
    skippedOverlap: description.info.numActionsSkippedOverlap,
    missedCatchupWindow: description.info.numActionsMissedCatchupWindow,
  };
}

function formatScheduleView(view: ScheduleView): string {
  const lines = [
    `${view.scheduleId}${view.paused ? '  (paused)' : ''}`,
    `  pipeline ${view.pipeline ?? '?'}  spec ${view.specHash?.slice(0, 12) ?? '?'}  time zone ${view.timeZone ?? 'UTC'}`,
    `  overlap ${view.overlap}  catch-up window ${view.catchupWindowMs / 1000} s`,
  ];
  if (view.note) lines.push(`  note: ${view.note}`);
  lines.push(`  next: ${view.nextActionTimes.slice(0, 3).join(', ') || 'none'}`);
  lines.push(`  runs taken ${view.actionsTaken}, skipped (overlap) ${view.skippedOverlap}, missed (catch-up) ${view.missedCatchupWindow}`);
  for (const run of view.runningRuns) lines.push(`  running: ${run.workflowId}`);
  for (const run of view.recentRuns.slice(-5)) lines.push(`  recent: ${run.workflowId} at ${run.takenAt}`);
  return lines.join('\n');
}

/** Runs `fn` with a connected client and the schedule's handle, closing the connection after. */
async function withSchedule<T>(flags: ConnectionFlags, scheduleId: string, fn: (handle: ScheduleHandle, client: Client) => Promise<T>): Promise<T> {
  const { client, close } = await connectClient(flags);
  try {
    return await fn(client.schedule.getHandle(scheduleId), client);
  } finally {
    await close();
  }
}

async function createOrApply(file: string, flags: CreateFlags, mode: 'create' | 'apply'): Promise<void> {
  const loaded = await loadOrReport(file, flags);
  if (loaded === undefined) return;
  // Every scheduled run executes this code: it is stored now, once.
  const codeLine = formatCodeUpload(await uploadPipelineCode(loaded, () => s3CodeArchiveStore(loadClientStorage(flags))), loaded.code);
  if (codeLine !== undefined && !flags.json) info(codeLine);
  const { client, config, close } = await connectClient(flags);
  try {
    const fromFile = mode === 'apply' ? fileScheduleSettings(loaded.spec, file) : undefined;
    const cron = flags.cron ?? fromFile?.cron;
    // create: commander requires --cron; apply: fileScheduleSettings has thrown without a block.
    if (cron === undefined) throw new Error(`Scheduling ${file} failed: no cron expression`);
    const options = pipelineScheduleOptions(loaded.resolved, {
      scheduleId: flags.scheduleId ?? loaded.resolved.name,
      cron,
      timeZone: flags.tz ?? fromFile?.timeZone ?? 'UTC',
      overlap: flags.overlap ?? fromFile?.overlap ?? 'skip',
      catchupWindow: flags.catchupWindow,
      ...(flags.paused === undefined ? {} : { paused: flags.paused }),
      note: flags.note ?? `${mode === 'apply' ? 'applied' : 'created'} by mlp from ${file}`,
      taskQueuePrefix: config.taskQueuePrefix,
    });
    let handle: ScheduleHandle;
    let action: 'created' | 'updated' = 'created';
    const existing = mode === 'apply' ? await describeOrUndefined(client.schedule.getHandle(options.scheduleId)) : undefined;
    if (existing === undefined) {
      handle = await client.schedule.create(options);
    } else {
      handle = client.schedule.getHandle(options.scheduleId);
      // A paused schedule stays paused: applying the file changes what and when, not whether.
      await handle.update(() => ({
        spec: options.spec,
        action: options.action,
        ...(options.policies === undefined ? {} : { policies: options.policies }),
        state: { paused: existing.state.paused, ...(options.state?.note === undefined ? {} : { note: options.state.note }) },
      }));
      action = 'updated';
    }
    const view = scheduleView(await handle.describe());
    printResult(flags, { action, ...view }, () => `${action} schedule ${view.scheduleId}\n${formatScheduleView(view)}`);
  } finally {
    await close();
  }
}

async function describeOrUndefined(handle: ScheduleHandle): Promise<ScheduleDescription | undefined> {
  try {
    return await handle.describe();
  } catch (error) {
    if (error instanceof Error && error.name === 'ScheduleNotFoundError') return undefined;
    throw error;
  }
}

interface ScheduleLine {
  scheduleId: string;
  pipeline?: string;
  paused: boolean;
  note?: string;
  nextActionTimes: string[];
  recentRuns: string[];
}

function summaryLine(summary: ScheduleSummary): ScheduleLine {
  const pipeline = memoString(summary.memo, 'pipeline');
  return {
    scheduleId: summary.scheduleId,
    ...(pipeline === undefined ? {} : { pipeline }),
    paused: summary.state.paused,
    ...(summary.state.note ? { note: summary.state.note } : {}),
    nextActionTimes: summary.info?.nextActionTimes.map((time) => time.toISOString()) ?? [],
    recentRuns: summary.info?.recentActions.map((action) => action.action.workflow.workflowId) ?? [],
  };
}

type TriggerOutcome = 'started' | 'skipped' | 'requested';

/** Triggers now under `overlap` and waits (briefly) to see whether a run started or was skipped. */
async function triggerAndObserve(handle: ScheduleHandle, overlap: OverlapName | undefined): Promise<{ outcome: TriggerOutcome; overlap: string; workflowId?: string }> {
  const before = await handle.describe();
  // The SDK's default for a manual trigger is allow-all; use the schedule's own policy instead.
  const policy = overlap === undefined ? before.policies.overlap : OVERLAP_POLICIES[overlap];
  await handle.trigger(policy);
  const deadline = Date.now() + TRIGGER_OUTCOME_WAIT_MS;
  while (Date.now() < deadline) {
    const after = await handle.describe();
    if (after.info.numActionsTaken > before.info.numActionsTaken) {
      const latest = after.info.recentActions.at(-1);
      return { outcome: 'started', overlap: overlapName(policy), ...(latest ? { workflowId: latest.action.workflow.workflowId } : {}) };
    }
    if (after.info.numActionsSkippedOverlap > before.info.numActionsSkippedOverlap) return { outcome: 'skipped', overlap: overlapName(policy) };
    await sleep(250);
  }
  return { outcome: 'requested', overlap: overlapName(policy) };
}

/** `mlp schedule …`: nightly retrains and other recurring runs as Temporal Schedules. */
export function register(program: Command): void {
  const schedule = program.command('schedule').description('Recurring pipeline runs on Temporal Schedules');

  withConnectionOptions(withPipelineFileOptions(schedule.command('create <file>')))
    .description('Create a schedule that runs the pipeline (spec resolved now, with --set) on a cron')
    .requiredOption('--cron <expr>', 'cron expression, e.g. "0 2 * * *" (02:00 every night)')
    .option('--tz <zone>', 'IANA time zone of the cron, e.g. Europe/Berlin', 'UTC')
    .addOption(overlapOption('what to do when a run is still going at the next time').default('skip'))
    .option('--catchup-window <duration>', 'start missed runs only this long after their time (max sensible: a day)', duration, DEFAULT_CATCHUP_WINDOW)
    .option('--schedule-id <id>', 'schedule id (default: the pipeline name)')
    .option('--paused', 'create it paused')
    .option('--note <text>', 'note shown with the schedule')
    .action((file: string, flags: CreateFlags) => createOrApply(file, flags, 'create'));

  withConnectionOptions(withPipelineFileOptions(schedule.command('apply <file>')))
    .description("Create or update the schedule from the pipeline file's own schedule: block")
    .option('--catchup-window <duration>', 'start missed runs only this long after their time', duration, DEFAULT_CATCHUP_WINDOW)
    .option('--schedule-id <id>', 'schedule id (default: the pipeline name)')
    .option('--note <text>', 'note shown with the schedule')
    .action((file: string, flags: CreateFlags) => createOrApply(file, flags, 'apply'));

  withConnectionOptions(schedule.command('list'))
    .description('List schedules')
    .option('--json', 'print as JSON')
    .action(async (flags: JsonFlags) => {
      const { client, close } = await connectClient(flags);
      try {
        const schedules: ScheduleLine[] = [];
        for await (const summary of client.schedule.list()) schedules.push(summaryLine(summary));
        printResult(flags, schedules, () =>
          schedules.length === 0
            ? 'no schedules'
            : schedules
                .map((line) => `${line.scheduleId}${line.paused ? '  (paused)' : ''}  pipeline ${line.pipeline ?? '?'}  next ${line.nextActionTimes[0] ?? 'none'}`)
                .join('\n'),
        );
      } finally {
        await close();
      }
    });

  withConnectionOptions(schedule.command('describe <scheduleId>'))
    .description('Show a schedule: policies, state, next times, recent and running runs')
    .option('--json', 'print as JSON')
    .action((scheduleId: string, flags: JsonFlags) =>
      withSchedule(flags, scheduleId, async (handle) => {
        const view = scheduleView(await handle.describe());
        printResult(flags, view, () => formatScheduleView(view));
      }),
    );

  for (const verb of ['pause', 'unpause'] as const) {
    withConnectionOptions(schedule.command(`${verb} <scheduleId>`))
      .description(verb === 'pause' ? 'Pause a schedule: its cron starts no runs until unpaused' : 'Unpause a schedule')
      .option('--note <text>', 'why (shown with the schedule)')
      .option('--json', 'print as JSON')
      .action((scheduleId: string, flags: JsonFlags & { note?: string }) =>
        withSchedule(flags, scheduleId, async (handle) => {
          await handle[verb](flags.note ?? `${verb}d by mlp`);
          const view = scheduleView(await handle.describe());
          printResult(flags, view, () => `${verb}d ${scheduleId}`);
        }),
      );
  }

  withConnectionOptions(schedule.command('trigger <scheduleId>'))
    .description("Start a run now, under the schedule's overlap policy (skip: nothing starts while a run is going)")
    .addOption(overlapOption("overlap policy for this trigger (default: the schedule's own)"))
    .option('--json', 'print as JSON')
    .action((scheduleId: string, flags: JsonFlags & { overlap?: OverlapName }) =>
      withSchedule(flags, scheduleId, async (handle) => {
        const result = await triggerAndObserve(handle, flags.overlap);
        printResult(flags, { scheduleId, ...result }, () =>
          result.outcome === 'started'
            ? `started ${result.workflowId ?? '(run)'}`
            : result.outcome === 'skipped'
              ? `skipped: a run is still going (overlap ${result.overlap})`
              : `trigger requested (overlap ${result.overlap}); no run started yet`,
        );
      }),
    );

  withConnectionOptions(schedule.command('backfill <scheduleId>'))
    .description('Take the actions the schedule would have taken between two times, now')
    .requiredOption('--from <time>', 'start of the range (ISO date-time)', dateTime)
    .requiredOption('--to <time>', 'end of the range (ISO date-time)', dateTime)
    .addOption(overlapOption('overlap policy for the backfilled runs').default('buffer-all'))
    .option('--json', 'print as JSON')
    .action((scheduleId: string, flags: JsonFlags & { from: Date; to: Date; overlap: OverlapName }) =>
      withSchedule(flags, scheduleId, async (handle) => {
        await handle.backfill({ start: flags.from, end: flags.to, overlap: OVERLAP_POLICIES[flags.overlap] });
        const result = { scheduleId, from: flags.from.toISOString(), to: flags.to.toISOString(), overlap: flags.overlap };
        printResult(flags, result, () => `backfill of ${scheduleId} from ${result.from} to ${result.to} requested`);
      }),
    );

  withConnectionOptions(schedule.command('delete <scheduleId>'))
    .description('Delete a schedule (runs it started keep running)')
    .option('--json', 'print as JSON')
    .action((scheduleId: string, flags: JsonFlags) =>
      withSchedule(flags, scheduleId, async (handle) => {
        await handle.delete();
        printResult(flags, { scheduleId, deleted: true }, () => `deleted ${scheduleId}`);
      }),
    );
}
