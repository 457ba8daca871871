import type { PipelineProgress } from './pipeline-progress.ts';

/**
 * Run notifications (the pipeline's `notify:` block): which run ends raise which events, the
 * small JSON a webhook receives, and the ids of the activities that post it. Sandbox-safe: the
 * workflow builds the notice from its progress; the activity, on the worker, resolves the URL
 * (never in the spec or the history), adds the Temporal UI link and posts.
 */

export const NOTIFY_EVENTS = ['failure', 'success', 'promoted'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** Where the worker finds a webhook's URL: an environment variable or a file (a mounted secret). */
export type WebhookUrlSource = { env: string } | { file: string };

/** One entry of `notify:`, as the resolved spec carries it. */
export interface NotifyTarget {
  on: NotifyEvent[];
  webhook: { urlFrom: WebhookUrlSource };
}

/** What the workflow knows about the run's end: the webhook body without the worker's UI link. */
export interface RunNotice {
  pipeline: string;
  workflowId: string;
  runId: string;
  status: 'succeeded' | 'failed';
  /** What the run's end raised: `failure`, or `success` (and `promoted`). */
  events: NotifyEvent[];
  startedAt: string;
  endedAt?: string;
  failedStep?: string;
  error?: string;
  /** Headline metrics: the numbers among the evaluate steps' `metrics` outputs, by step. */
  metrics?: Record<string, Record<string, number>>;
  /** Versions a publish step promoted, e.g. `{ publish: { model: 'pneumonia', version: 3 } }`. */
  promoted?: Record<string, { model?: string; version?: number }>;
}

/** What a webhook receives: the notice, a link to the run when the worker knows the UI, and `text` for Slack. */
export interface WebhookBody extends RunNotice {
  url?: string;
  text: string;
}

/** Longest step error a notice carries: a chat message, not a log. */
const MAX_ERROR_CHARS = 500;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function numbersOf(value: unknown): Record<string, number> | undefined {
  if (!isRecord(value)) return undefined;
  const numbers = Object.entries(value).filter((entry): entry is [string, number] => typeof entry[1] === 'number');
  return numbers.length === 0 ? undefined : Object.fromEntries(numbers);
}

/**
 * The notice of an ended run, or `undefined` when its end raises nothing: a cancelled run (someone
 * chose to stop it) or one still running. `promoted` joins `success` when a publish step promoted.
 */
export function runNotice(progress: PipelineProgress, ids: { workflowId: string; runId: string }): RunNotice | undefined {
  if (progress.state !== 'succeeded' && progress.state !== 'failed') return undefined;
  const metrics: Record<string, Record<string, number>> = {};
  const promoted: Record<string, { model?: string; version?: number }> = {};
  for (const step of progress.steps) {
    const outputs = step.outputs;
    if (outputs === undefined) continue;
    const numbers = step.uses === 'evaluate' ? numbersOf(outputs['metrics']) : undefined;
    if (numbers !== undefined) metrics[step.id] = numbers;
    if (step.uses === 'publish' && outputs['promoted'] === true) {
      const prefix = outputs['prefix'];
      const model = typeof prefix === 'string' ? /^models\/([^/]+)\//.exec(prefix)?.[1] : undefined;
      const version = outputs['version'];
      promoted[step.id] = { ...(model === undefined ? {} : { model }), ...(typeof version === 'number' ? { version } : {}) };
    }
  }
  const failed = progress.steps.find((step) => step.id === progress.failedStep);
  const error = failed?.error;
  const events: NotifyEvent[] = progress.state === 'failed' ? ['failure'] : Object.keys(promoted).length > 0 ? ['success', 'promoted'] : ['success'];
  return {
    pipeline: progress.pipeline,
    workflowId: ids.workflowId,
    runId: ids.runId,
    status: progress.state,
    events,
    startedAt: progress.startedAt,
    ...(progress.endedAt === undefined ? {} : { endedAt: progress.endedAt }),
    ...(progress.failedStep === undefined ? {} : { failedStep: progress.failedStep }),
    ...(error === undefined ? {} : { error: error.length > MAX_ERROR_CHARS ? `${error.slice(0, MAX_ERROR_CHARS)}…` : error }),
    ...(Object.keys(metrics).length === 0 ? {} : { metrics }),
    ...(Object.keys(promoted).length === 0 ? {} : { promoted }),
  };
}

/** The targets whose `on` names an event the notice raised, with their index in `notify:`. */
export function dueTargets(targets: readonly NotifyTarget[], notice: RunNotice): { index: number; target: NotifyTarget }[] {
  return targets.flatMap((target, index) => (target.on.some((event) => notice.events.includes(event)) ? [{ index, target }] : []));
}

/** Link to a run in the Temporal Web UI (`base` without a trailing slash). */
export function temporalRunUrl(base: string, namespace: string, workflowId: string, runId?: string): string {
  const workflow = `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId === undefined ? workflow : `${workflow}/${encodeURIComponent(runId)}`;
}

function formatMetric(value: number): string {
  return String(Number(value.toFixed(4)));
}

/** One line a person reads in a chat: what ended how, why, the headline numbers, the link. */
function noticeText(notice: RunNotice, url: string | undefined): string {
  const lines = [
    notice.status === 'failed'
      ? `Pipeline ${notice.pipeline} failed${notice.failedStep === undefined ? '' : ` at step ${notice.failedStep}`}: ${notice.workflowId}`
      : `Pipeline ${notice.pipeline} succeeded: ${notice.workflowId}`,
  ];
  if (notice.error !== undefined) lines.push(notice.error);
  for (const [step, numbers] of Object.entries(notice.metrics ?? {})) {
    lines.push(`${step}: ${Object.entries(numbers).map(([name, value]) => `${name} ${formatMetric(value)}`).join(', ')}`);
  }
  for (const [step, { model, version }] of Object.entries(notice.promoted ?? {})) {
    lines.push(`${step}: promoted ${model ?? 'model'}${version === undefined ? '' : ` version ${version}`}`);
  }
  if (url !== undefined) lines.push(url);
  return lines.join('\n');
}

/** The JSON a webhook receives. `text` makes Slack incoming webhooks (and most chat hooks) accept it. */
export function webhookBody(notice: RunNotice, url?: string): WebhookBody {
  return { ...notice, ...(url === undefined ? {} : { url }), text: noticeText(notice, url) };
}

/**
 * Activity id of the notification to `notify[index]`: `notify/<index>`. `notify` never
 * precedes a cache operation, so client/runs/run-history.ts cannot take it for a step's activity.
 */
export function notificationActivityId(index: number): string {
  return `notify/${index}`;
}

/** The `notify:` index an activity id names, or `undefined` for any other activity. */
export function parseNotificationActivityId(activityId: string): number | undefined {
  const match = /^notify\/(\d+)$/.exec(activityId);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** What the notification activity returns: the webhook's answer. */
export interface NotificationResult {
  status: number;
}

/** The notification activity's input: no URL, only where the worker finds it. */
export interface NotificationRequest {
  index: number;
  urlFrom: WebhookUrlSource;
  notice: RunNotice;
}
