import { readFile } from 'node:fs/promises';
import { RunContractError } from '../../common/errors.ts';

/**
 * $MLP_METRICS: a JSON object of numbers the command may write (`{"valAuc": 0.93}`). It becomes
 * `steps.<id>.outputs.metrics`, and a sweep's `select.metric` reads it. No file: no metrics.
 */
export async function readMetricsFile(path: string): Promise<Record<string, number>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RunContractError(`$MLP_METRICS is not JSON (${error instanceof Error ? error.message : String(error)}): expected an object of numbers such as {"valAuc": 0.93}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RunContractError(`$MLP_METRICS holds ${Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`}, not a JSON object of numbers such as {"valAuc": 0.93}`);
  }
  const metrics: Record<string, number> = {};
  for (const [name, metric] of Object.entries(value)) {
    if (typeof metric !== 'number' || !Number.isFinite(metric)) {
      throw new RunContractError(`$MLP_METRICS: metric "${name}" is ${JSON.stringify(metric)}, not a number`);
    }
    metrics[name] = metric;
  }
  return metrics;
}
