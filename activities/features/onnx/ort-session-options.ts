import type { InferenceSession } from 'onnxruntime-node';
import { z } from 'zod';

/**
 * How an ONNX Runtime session for a frozen backbone is set up: plain data, so the main thread
 * decides it and the worker thread that owns the session only applies it.
 */

/** Execution providers the feature engine can ask for (CPU always runs; the others need the host's GPU stack). */
export const ORT_PROVIDERS = ['cpu', 'cuda', 'webgpu'] as const;
export type OrtProvider = (typeof ORT_PROVIDERS)[number];

export const OrtSettingsSchema = z.strictObject({
  provider: z.enum(ORT_PROVIDERS),
  /** Intra-op threads of the CPU provider: the cores actually free (see free-cores.ts). */
  threads: z.number().int().min(1),
  /**
   * Idle intra-op threads spin-wait for work. Off when another heavy job shares the machine:
   * spinning threads then steal its core (measured: 2 spinning threads fell to 170 img/s next to
   * a busy core, 268 with spinning off).
   */
  spinning: z.boolean(),
  /**
   * ORT's CPU memory arena (and memory patterns): keeps peak-size buffers between runs. On by
   * default: without it MobileNet v1 ran at 2/3 of the speed (137 vs 207 img/s, batch 32, idle
   * 2-core machine) for a third of the memory (154 vs 474 MB); figures in docs/engines.md.
   */
  arena: z.boolean(),
  /**
   * Images per `run()` of the session: a batch is split into runs of this many images, and the
   * next run's input is copied while the session computes the one before. Absent: one run per
   * batch (GPU providers, where larger runs fill the device). On CPU small runs stay in cache:
   * MobileNet v1 ran at 369 img/s in runs of 4 against 330 in runs of 32 (2-core Xeon, idle);
   * the outputs are bit-identical whatever the split (test/unit/feature-engine.test.ts).
   */
  imagesPerRun: z.number().int().min(1).optional(),
});
export type OrtSettings = z.infer<typeof OrtSettingsSchema>;

/** The session options for `settings`: graph optimizations on, one inference at a time. */
export function ortSessionOptions(settings: OrtSettings): InferenceSession.SessionOptions {
  return {
    executionProviders: settings.provider === 'cpu' ? ['cpu'] : [settings.provider, 'cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: settings.threads,
    interOpNumThreads: 1,
    enableCpuMemArena: settings.arena,
    enableMemPattern: settings.arena,
    // Session config entries (onnxruntime_session_options_config_keys.h); the Node binding takes string values.
    extra: { session: { intra_op: { allow_spinning: settings.spinning ? '1' : '0' } } },
  };
}

/** Images per run on the CPU provider (see `imagesPerRun`); GPU providers take whole batches. */
export const CPU_IMAGES_PER_RUN = 4;

/**
 * How a batch of `images` is split into session runs of `imagesPerRun` (absent: one run). An
 * empty batch still makes one run, so the session says what an empty batch gives.
 */
export function imageRuns(images: number, imagesPerRun: number | undefined): { first: number; count: number }[] {
  const step = Math.max(1, imagesPerRun ?? images);
  const runs = [];
  for (let first = 0; first === 0 || first < images; first += step) runs.push({ first, count: Math.min(step, images - first) });
  return runs;
}

/** One line for logs and step outputs: `onnxruntime cpu, 2 threads, no spinning, no arena, runs of 4 images`. */
export function describeOrtSettings(settings: OrtSettings): string {
  return [
    `onnxruntime ${settings.provider}`,
    `${settings.threads} thread${settings.threads === 1 ? '' : 's'}`,
    settings.spinning ? 'spinning' : 'no spinning',
    settings.arena ? 'arena' : 'no arena',
    settings.imagesPerRun === undefined ? 'whole batches' : `runs of ${settings.imagesPerRun} image${settings.imagesPerRun === 1 ? '' : 's'}`,
  ].join(', ');
}
