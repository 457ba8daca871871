import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { formatProgress } from './sources/progress-line.ts';
import { getPipelineProgress, type StepProgressView } from '../runs/progress.ts';

/**
 * Follows a run until it closes, printing one line whenever a step changes state or reports new
 * progress (plain lines, so it reads well in a terminal, a CI log or a pipe).
 */
export async function followRun(handle: WorkflowHandle, print: (line: string) => void, intervalMs = 2000): Promise<void> {
  const seen = new Map<string, string>();
  const downloads = new Map<string, DownloadStart>();
  for (;;) {
    const closed = await handle.describe().then((d) => d.status.name !== 'RUNNING');
    try {
      const progress = await getPipelineProgress(handle);
      for (const step of progress.steps) {
        const line = describeStep(step, downloads, Date.now());
        if (seen.get(step.id) !== line) {
          seen.set(step.id, line);
          print(line);
        }
      }
    } catch {
      // The first workflow task may not have run yet: no query handler to answer.
    }
    if (closed) return;
    await sleep(intervalMs);
  }
}

/** Where a step's download stood when it was first seen, for its average rate. */
interface DownloadStart {
  bytes: number;
  at: number;
}

const DownloadBeatSchema = z.object({ phase: z.literal('download'), bytesDone: z.number(), bytesTotal: z.number().nullish() });

/** A download's bytes, share and rate (`312.4 of 1234.6 MB (25%) · 8.1 MB/s`); other beats as JSON. */
export function describeBeat(stepId: string, heartbeat: unknown, downloads: Map<string, DownloadStart>, now: number): string {
  const download = DownloadBeatSchema.safeParse(heartbeat);
  if (!download.success) return JSON.stringify(heartbeat);
  const { bytesDone, bytesTotal } = download.data;
  const start = downloads.get(stepId) ?? { bytes: bytesDone, at: now };
  downloads.set(stepId, start);
  const seconds = (now - start.at) / 1000;
  const line = formatProgress(bytesDone, bytesTotal ?? undefined, 0);
  return seconds > 0 ? `download ${line} · ${((bytesDone - start.bytes) / 1_000_000 / seconds).toFixed(1)} MB/s` : `download ${line}`;
}

function describeStep(step: StepProgressView, downloads: Map<string, DownloadStart>, now: number): string {
  const attempt = step.attempt && step.attempt > 1 ? ` attempt ${step.attempt}` : '';
  const beat = step.state === 'running' && step.heartbeat !== undefined ? ` ${describeBeat(step.id, step.heartbeat, downloads, now)}` : '';
  const error = step.error ? ` — ${step.error}` : '';
  return `  ${step.id.padEnd(12)} ${step.state}${step.cached ? ' (cache hit)' : ''}${attempt}${beat}${error}`;
}
