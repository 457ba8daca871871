import { defaultPayloadConverter } from '@temporalio/common';
import { z } from 'zod';
import { CacheKeyPartsSchema, changedArtifactInputs, changedCacheKeyParts, type CacheKeyPart, type CacheKeyParts } from '../../common/cache-key.ts';
import { type CacheEntrySummary, type ExplainCacheResult } from '../../common/cache-explain.ts';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import { parseStepActivityId } from '../../common/step-activity-ids.ts';
import type { PipelineProgressView } from './progress.ts';
import type { History } from './run-history.ts';

/**
 * `mlp cache explain <run>`: for each step of a recorded run, whether it hit the step cache and,
 * when it ran, why: a refresh was asked for, the entry's artifacts were gone, or which parts of
 * its key (kind, version, code, engine, params, inputs) differ from the newest earlier entry of
 * the same step. Explaining a recorded run is the honest form: before a run, the content hashes of
 * its inputs do not exist yet.
 */

/** A previous entry, as the explanation names it. */
export interface EntryRef {
  key: string;
  workflowId: string;
  recordedAt: string;
}

export type StepExplanation =
  | { step: string; uses: string; status: 'cache-off'; reason?: string }
  | { step: string; uses: string; status: 'not-run'; state: string }
  | { step: string; uses: string; status: 'reused'; from: string }
  | { step: string; uses: string; status: 'hit'; key?: string; entry?: EntryRef }
  | {
      step: string;
      uses: string;
      status: 'miss';
      key?: string;
      /** refresh: asked for (or upstream of it); stale: the entry's artifacts were gone or changed; changed: key parts differ from `previous`; first: no earlier entry; unknown: parts not recorded. */
      cause: 'refresh' | 'stale' | 'changed' | 'first' | 'unknown';
      changed?: CacheKeyPart[];
      /** Artifact inputs whose content changed, when `inputs` changed. */
      changedInputs?: string[];
      previous?: EntryRef;
      detail?: string;
    };

export interface RunExplanation {
  workflowId: string;
  runId?: string;
  pipeline: string;
  steps: StepExplanation[];
}

type Payloads = { payloads?: Parameters<typeof defaultPayloadConverter.fromPayload>[0][] | null } | null | undefined;

function firstPayload(payloads: Payloads): unknown {
  const payload = payloads?.payloads?.[0];
  return payload === undefined ? undefined : defaultPayloadConverter.fromPayload(payload);
}

const keyWithPartsSchema = z.object({ key: z.string(), parts: CacheKeyPartsSchema });

/** The key parts each step's `cache-key` activity returned (runs recorded before parts existed have none). */
export function recordedKeyParts(history: History): Map<string, CacheKeyParts> {
  const stepByScheduled = new Map<string, string>();
  const parts = new Map<string, CacheKeyParts>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityId) {
      const ref = parseStepActivityId(scheduled.activityId);
      if (ref?.operation === 'cache-key') stepByScheduled.set(String(event.eventId), ref.stepId);
      continue;
    }
    const completed = event.activityTaskCompletedEventAttributes;
    const stepId = completed ? stepByScheduled.get(String(completed.scheduledEventId)) : undefined;
    if (completed && stepId !== undefined) {
      const parsed = keyWithPartsSchema.safeParse(firstPayload(completed.result));
      if (parsed.success) parts.set(stepId, parsed.data.parts);
    }
  }
  return parts;
}

/** The requested steps and every step downstream of one of them (what the workflow refreshed). */
export function refreshedSteps(spec: ResolvedPipeline, refresh: readonly string[]): Set<string> {
  const marked = new Set(refresh);
  let grew = true;
  while (grew) {
    grew = false;
    for (const step of spec.steps) {
      if (!marked.has(step.id) && step.needs.some((need) => marked.has(need))) {
        marked.add(step.id);
        grew = true;
      }
    }
  }
  return marked;
}

const ref = (entry: CacheEntrySummary): EntryRef => ({ key: entry.key, workflowId: entry.workflowId, recordedAt: entry.recordedAt });

/**
 * The newest entry of the step recorded before it ran, other than its own key: what it would
 * have hit had nothing changed. Entries of runs of the same pipeline (`<pipeline>-…` ids) first.
 */
export function previousEntry(entries: readonly CacheEntrySummary[], pipeline: string, key: string | undefined, before: string | undefined): CacheEntrySummary | undefined {
  const earlier = entries.filter((entry) => entry.key !== key && (before === undefined || entry.recordedAt < before));
  return earlier.find((entry) => entry.workflowId.startsWith(`${pipeline}-`)) ?? earlier[0];
}

export function explainRun(
  spec: ResolvedPipeline,
  options: { refresh?: string[] },
  view: PipelineProgressView,
  keyParts: ReadonlyMap<string, CacheKeyParts>,
  entries: ExplainCacheResult,
): StepExplanation[] {
  const refreshed = refreshedSteps(spec, options.refresh ?? []);
  return spec.steps.map((step): StepExplanation => {
    const base = { step: step.id, uses: step.uses };
    const seen = view.steps.find((candidate) => candidate.id === step.id);
    if (seen?.state === 'reused' && seen.reusedFrom !== undefined) return { ...base, status: 'reused', from: seen.reusedFrom };
    if (!step.cache) return { ...base, status: 'cache-off', ...(step.cacheOffReason === undefined ? {} : { reason: step.cacheOffReason }) };
    const key = seen?.cacheKey;
    const stepEntries = entries[step.id] ?? [];
    if (seen?.state === 'cached') {
      const entry = stepEntries.find((candidate) => candidate.key === key);
      return { ...base, status: 'hit', ...(key === undefined ? {} : { key }), ...(entry === undefined ? {} : { entry: ref(entry) }) };
    }
    if (key === undefined) return { ...base, status: 'not-run', state: seen?.state ?? 'pending' };
    const miss = { ...base, status: 'miss' as const, key };
    if (refreshed.has(step.id)) return { ...miss, cause: 'refresh', detail: refresh(step.id, options.refresh ?? []) };
    if (seen?.cacheMiss !== undefined) return { ...miss, cause: 'stale', detail: seen.cacheMiss };
    const previous = previousEntry(stepEntries, spec.name, key, seen?.startedAt ?? view.startedAt);
    if (previous === undefined) return { ...miss, cause: 'first' };
    const now = keyParts.get(step.id);
    if (now === undefined || previous.parts === undefined) {
      return { ...miss, cause: 'unknown', previous: ref(previous), detail: `${now === undefined ? 'this run' : 'the earlier entry'} recorded no key parts (started before keys had parts)` };
    }
    const changed = changedCacheKeyParts(previous.parts, now);
    if (changed.length === 0) return { ...miss, cause: 'unknown', previous: ref(previous), detail: 'its key parts equal those of the earlier entry (the entry was written or removed while this run looked)' };
    const changedInputs = changed.includes('inputs') ? changedArtifactInputs(previous.parts, now) : [];
    return { ...miss, cause: 'changed', changed, ...(changedInputs.length > 0 ? { changedInputs } : {}), previous: ref(previous) };
  });
}

function refresh(stepId: string, asked: readonly string[]): string {
  return asked.includes(stepId) ? 'refresh requested (--refresh)' : 'downstream of a refreshed step';
}

const PART_NAMES: Record<CacheKeyPart, string> = { uses: 'kind', version: 'version', code: 'code', engine: 'engine', params: 'params', inputs: 'inputs' };

export function formatExplanation(explanation: RunExplanation): string {
  const width = Math.max(...explanation.steps.map((step) => step.step.length), 4);
  const lines = [`run ${explanation.workflowId} (pipeline ${explanation.pipeline})`];
  for (const step of explanation.steps) {
    const name = step.step.padEnd(width);
    switch (step.status) {
      case 'cache-off':
        lines.push(`  ${name}  cache off${step.reason === undefined ? '' : ` (${step.reason})`}`);
        break;
      case 'not-run':
        lines.push(`  ${name}  did not run (${step.state})`);
        break;
      case 'reused':
        lines.push(`  ${name}  reused from ${step.from}`);
        break;
      case 'hit':
        lines.push(`  ${name}  hit${step.entry === undefined ? '' : ` (entry of run ${step.entry.workflowId}, ${step.entry.recordedAt})`}`);
        break;
      case 'miss': {
        const since = step.previous === undefined ? '' : ` since the entry of run ${step.previous.workflowId} (${step.previous.recordedAt})`;
        const why =
          step.cause === 'changed'
            ? `${(step.changed ?? []).map((part) => (part === 'inputs' && step.changedInputs ? `inputs (${step.changedInputs.join(', ')})` : PART_NAMES[part])).join(', ')} changed${since}`
            : step.cause === 'first'
              ? 'no earlier entry of this step'
              : `${step.detail ?? step.cause}${step.cause === 'unknown' ? since : ''}`;
        lines.push(`  ${name}  miss: ${why}`);
        break;
      }
    }
  }
  return lines.join('\n');
}
