import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { getPipelineProgress, type StepProgressView } from './progress.ts';

/**
 * Follows a run until it closes, printing one line whenever a step changes state or reports new
 * progress (plain lines, so it reads well in a terminal, a CI log or a pipe).
 */
export async function followRun(handle: WorkflowHandle, print: (line: string) => void, intervalMs = 2000): Promise<void> {
  const seen = new Map<string, string>();
  for (;;) {
    const closed = await handle.describe().then((d) => d.status.name !== 'RUNNING');
    try {
      const progress = await getPipelineProgress(handle);
      for (const step of progress.steps) {
        const line = describeStep(step);
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

function describeStep(step: StepProgressView): string {
  const attempt = step.attempt && step.attempt > 1 ? ` attempt ${step.attempt}` : '';
  const beat = step.state === 'running' && step.heartbeat !== undefined ? ` ${JSON.stringify(step.heartbeat)}` : '';
  const error = step.error ? ` — ${step.error}` : '';
  return `  ${step.id.padEnd(12)} ${step.state}${step.cached ? ' (cache hit)' : ''}${attempt}${beat}${error}`;
}
