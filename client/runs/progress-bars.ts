import { z } from 'zod';
import type { StepProgressView } from './progress.ts';

/**
 * One progress bar per step, from the step's state and its last heartbeat details: bytes for a
 * download, images for import and subset, epochs and batches with loss and accuracy for training,
 * the command's own progress lines for a run step, milliseconds slept for noop. Pure, so `mlp watch` only draws what this computes.
 */

export interface BarState {
  /** Progress in `total` units; a bar with total 0 has nothing to measure yet. */
  value: number;
  total: number;
  /** Text after the bar, e.g. `12.0/80.5 MB`, `epoch 3/10 batch 12 loss 0.4321 acc 0.8125`. */
  detail: string;
}

const finite = z.number().refine(Number.isFinite);

/** Heartbeat fields the bar understands; anything else is ignored. */
const heartbeatSchema = z.looseObject({
  phase: z.string().optional(),
  kind: z.string().optional(),
  bytesDone: finite.optional(),
  bytesTotal: finite.nullish(),
  imagesDone: finite.optional(),
  imagesTotal: finite.optional(),
  epoch: finite.optional(),
  epochs: finite.optional(),
  batch: finite.optional(),
  batches: finite.optional(),
  loss: finite.optional(),
  accuracy: finite.optional(),
  acc: finite.optional(),
  batchesPerEpoch: finite.optional(),
  /** The trainer's epoch log (activities/training/trainer.ts). */
  log: z
    .looseObject({ loss: finite.optional(), accuracy: finite.optional(), valLoss: finite.optional(), valAccuracy: finite.optional() })
    .optional(),
  sleptMs: finite.optional(),
  sleepMs: finite.optional(),
});

type Heartbeat = z.infer<typeof heartbeatSchema>;

function megabytes(bytes: number): string {
  return (bytes / 1_000_000).toFixed(1);
}

function round(value: number): string {
  return String(Number(value.toFixed(4)));
}

function trainingBar(beat: Heartbeat): BarState {
  const epoch = beat.epoch ?? 0;
  const loss = beat.loss ?? beat.log?.loss;
  const accuracy = beat.accuracy ?? beat.acc ?? beat.log?.accuracy;
  const parts = [`epoch ${epoch}${beat.epochs === undefined ? '' : `/${beat.epochs}`}`];
  const batches = beat.batches ?? beat.batchesPerEpoch;
  if (beat.batch !== undefined && beat.kind !== 'epoch') parts.push(`batch ${beat.batch}${batches === undefined ? '' : `/${batches}`}`);
  if (loss !== undefined) parts.push(`loss ${round(loss)}`);
  if (accuracy !== undefined) parts.push(`acc ${round(accuracy)}`);
  if (beat.log?.valLoss !== undefined) parts.push(`val_loss ${round(beat.log.valLoss)}`);
  if (beat.log?.valAccuracy !== undefined) parts.push(`val_acc ${round(beat.log.valAccuracy)}`);
  const detail = parts.join(' ');
  if (beat.epochs === undefined) return { value: 0, total: 0, detail };
  // Epochs and batches count from 1. Within an epoch, batches move the bar when their count is
  // known; an epoch heartbeat means that epoch is done.
  const withinEpoch = beat.kind === 'epoch' ? 1 : beat.batch !== undefined && batches ? beat.batch / batches : 0;
  const done = beat.kind === 'epoch' ? epoch : Math.max(epoch - 1, 0) + withinEpoch;
  return { value: Math.min(done, beat.epochs), total: beat.epochs, detail };
}

function heartbeatBar(beat: Heartbeat): BarState | undefined {
  if (beat.bytesDone !== undefined) {
    const total = beat.bytesTotal ?? 0;
    return { value: beat.bytesDone, total, detail: `${megabytes(beat.bytesDone)}${total ? `/${megabytes(total)}` : ''} MB` };
  }
  if (beat.imagesDone !== undefined) {
    const total = beat.imagesTotal ?? 0;
    return { value: beat.imagesDone, total, detail: `${beat.imagesDone}${total ? `/${total}` : ''} images${beat.phase ? ` (${beat.phase})` : ''}` };
  }
  if (beat.epoch !== undefined) return trainingBar(beat);
  if (beat.sleptMs !== undefined) {
    const total = beat.sleepMs ?? 0;
    return { value: beat.sleptMs, total, detail: `${beat.sleptMs}${total ? `/${total}` : ''} ms` };
  }
  if (beat.phase !== undefined) return { value: 0, total: 0, detail: beat.phase };
  return undefined;
}

/** A `run` step's heartbeat (the runUserCode activity): its phase, and in `running` the command's `::mlp progress` line and last log line. */
const runHeartbeatSchema = z.looseObject({
  phase: z.enum(['code', 'environment', 'inputs', 'running', 'outputs']),
  done: finite.optional(),
  total: finite.optional(),
  message: z.string().optional(),
  lastLine: z.string().optional(),
});

const RUN_PHASES: Record<z.infer<typeof runHeartbeatSchema>['phase'], string> = {
  code: 'unpacking code',
  environment: 'building the Python environment',
  inputs: 'staging inputs',
  running: 'running',
  outputs: 'uploading outputs',
};

/** Longest message or log line shown after a bar: the rest of the line is in `mlp logs`. */
const RUN_NOTE_CHARS = 60;

/**
 * The command's own progress (`::mlp progress {"done": 3, "total": 10, "message": "epoch 3"}`)
 * measures the bar; without it the bar names the phase and shows the last log line (pip's, while
 * the environment builds), so a quiet bar still says what the step does.
 */
function runBar(beat: z.infer<typeof runHeartbeatSchema>): BarState {
  const parts = [RUN_PHASES[beat.phase]];
  if (beat.done !== undefined) parts.push(beat.total === undefined ? `${beat.done}` : `${beat.done}/${beat.total}`);
  const note = (beat.message ?? beat.lastLine)?.trim();
  if (note !== undefined && note !== '') parts.push(note.length > RUN_NOTE_CHARS ? `${note.slice(0, RUN_NOTE_CHARS - 1)}…` : note);
  const measured = beat.done !== undefined && beat.total !== undefined && beat.total > 0;
  return { value: measured ? Math.min(beat.done ?? 0, beat.total ?? 0) : 0, total: measured ? (beat.total ?? 0) : 0, detail: parts.join(' ') };
}

export function stepBar(step: StepProgressView): BarState {
  switch (step.state) {
    case 'succeeded':
      return { value: 1, total: 1, detail: 'done' };
    case 'cached':
      return { value: 1, total: 1, detail: 'cache hit' };
    case 'reused':
      return { value: 1, total: 1, detail: `reused from ${step.reusedFrom ?? 'an earlier run'}` };
    case 'failed':
      return { value: 0, total: 1, detail: step.error ?? 'failed' };
    case 'cancelled':
      return { value: 0, total: 1, detail: 'cancelled' };
    case 'pending':
      return { value: 0, total: 1, detail: 'waiting' };
    case 'running': {
      const run = step.uses === 'run' ? runHeartbeatSchema.safeParse(step.heartbeat) : undefined;
      const parsed = heartbeatSchema.safeParse(step.heartbeat);
      const bar = run?.success === true ? runBar(run.data) : parsed.success ? heartbeatBar(parsed.data) : undefined;
      const attempt = step.attempt !== undefined && step.attempt > 1 ? ` (attempt ${step.attempt})` : '';
      return bar === undefined ? { value: 0, total: 0, detail: `running${attempt}` } : { ...bar, detail: `${bar.detail}${attempt}` };
    }
  }
}
