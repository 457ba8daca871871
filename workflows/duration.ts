import { PipelineSpecError } from '../common/errors.ts';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/**
 * Milliseconds of a pipeline duration such as `500ms`, `30s`, `2m`, `2h`, `1d`. Throws
 * PipelineSpecError naming the field for anything else (the client validated it already, so
 * this only guards hand-made inputs).
 */
export function durationMs(text: string, field: string): number {
  const match = DURATION.exec(text.trim());
  const amount = match?.[1];
  const unit = match?.[2];
  if (amount === undefined || unit === undefined || !Object.hasOwn(UNIT_MS, unit)) {
    throw new PipelineSpecError(`Invalid duration "${text}" in ${field}: expected a number with ms, s, m, h or d`);
  }
  return Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
}
