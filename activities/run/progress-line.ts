import { z } from 'zod';

/**
 * `::mlp progress {"done": 3, "total": 10, "message": "epoch 3"}`: a stdout line by which a
 * user's command reports progress (shown by `mlp watch` and in the step's heartbeat details).
 */

const PREFIX = '::mlp progress ';

const progressSchema = z.strictObject({
  done: z.number().finite().min(0).optional(),
  total: z.number().finite().min(0).optional(),
  message: z.string().max(500).optional(),
});
export type CommandProgress = z.infer<typeof progressSchema>;

/** `undefined` for an ordinary line; the progress, or why the progress line is malformed. */
export function parseProgressLine(line: string): { progress: CommandProgress } | { problem: string } | undefined {
  if (!line.startsWith(PREFIX)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line.slice(PREFIX.length));
  } catch {
    return { problem: 'not JSON after "::mlp progress "' };
  }
  const parsed = progressSchema.safeParse(value);
  return parsed.success ? { progress: parsed.data } : { problem: z.prettifyError(parsed.error).replaceAll('\n', ' ') };
}
