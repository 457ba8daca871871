import { z } from 'zod';
import { EvaluationError } from '../../common/errors.ts';
import type { ObjectStore } from '../object-store.ts';
import type { CurveRun } from './plots/training-curves.ts';

/**
 * Training histories for the curves plot. Accepts the trainer's epoch logs as a bare array or
 * wrapped as `{ history: [...] }` (what a train step writes next to its model), so the plot does
 * not depend on which of the two a train step stores.
 */

const EpochSchema = z
  .object({
    epoch: z.number().int().positive(),
    loss: z.number(),
    accuracy: z.number().optional(),
    valLoss: z.number().optional(),
    valAccuracy: z.number().optional(),
  })
  .loose();
const HistorySchema = z.union([z.array(EpochSchema), z.object({ history: z.array(EpochSchema) }).loose()]);

/** The run's name in the plot: the step id in `runs/<workflowId>/<stepId>/…`, else the file name. */
export function historyRunName(key: string): string {
  const parts = key.split('/');
  return parts[0] === 'runs' && parts.length >= 4 ? (parts[2] ?? key) : (parts.at(-1) ?? key);
}

export async function loadHistories(store: ObjectStore, keys: readonly string[]): Promise<CurveRun[]> {
  return Promise.all(
    keys.map(async (key) => {
      const parsed = HistorySchema.safeParse(await store.getJson(key));
      if (!parsed.success) throw new EvaluationError(`Read training history failed: ${key} is not a list of epoch logs (${z.prettifyError(parsed.error)})`);
      const epochs = Array.isArray(parsed.data) ? parsed.data : parsed.data.history;
      return { name: historyRunName(key), epochs };
    }),
  );
}
