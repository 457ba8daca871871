import type { TrainingEngine } from './engine/engine.ts';
import type { NotificationDeps } from './notify/notification-activities.ts';
import type { ObjectStore } from './object-store.ts';

/** What activities get from the worker: built once at start, never read from process.env. */
export interface ActivityDeps extends NotificationDeps {
  store: ObjectStore;
  /** Local scratch folder for downloads and extraction (per worker). */
  scratchDir: string;
  /** Version of the code the worker runs (e.g. a git commit), recorded in registry lineage. */
  codeVersion?: string;
  /**
   * The training engine, selected once when the worker starts (one tfjs backend per process).
   * Without it, the train step selects `auto` on first use.
   */
  engine?: () => Promise<TrainingEngine>;
  /**
   * Fingerprint of the code of each step kind, by `uses:` (activities/code-fingerprint.ts),
   * computed once at worker start for the step cache's keys. Without it the cache computes them
   * from this checkout on first use.
   */
  codeFingerprints?: Readonly<Record<string, string>>;
}
