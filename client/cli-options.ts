import { InvalidArgumentError } from 'commander';
import { durationSchema } from '../common/pipeline-spec/schema.ts';

/**
 * Argument parsers for commander options. They throw commander's InvalidArgumentError, which
 * commander reports as a usage error (exit code 2, see client/bin.ts).
 */

export function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

/** A duration like `30s`, `10m`, `1h`, `1d` (the pipeline format's duration syntax). */
export function duration(value: string): string {
  if (!durationSchema.safeParse(value).success) throw new InvalidArgumentError('expected a duration like 30s, 10m, 1h or 1d');
  return value;
}

/** A date-time Date.parse understands, e.g. 2026-01-31T02:00:00Z or 2026-01-31. */
export function dateTime(value: string): Date {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError('expected an ISO date-time, e.g. 2026-01-31T02:00:00Z');
  return new Date(ms);
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
