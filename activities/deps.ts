import type { TrainingEngine } from './engine/engine.ts';
import type { NotificationDeps } from './notify/notification-activities.ts';
import type { ObjectStore } from './object-store.ts';
import type { MlflowSettings } from './tracking/mlflow-client.ts';

/** Where and how `run` steps work on a worker (worker/config.ts: MLP_RUN_DIR, MLP_RUN_ENVS_DIR, MLP_RUN_CHECKPOINT_INTERVAL). */
export interface RunStepSettings {
  /** Unpacked code by sha256 (kept) and each attempt's folders (removed when it ends). */
  runDir: string;
  /** Python virtual environments, one per (Python version, requirements). */
  envsDir: string;
  /** Least time between two uploads of changed checkpoints while the command runs. */
  checkpointIntervalMs: number;
  /** PATH of the user's commands (the worker's own, which finds python3, node, bash). */
  commandPath: string;
  /** LANG of the user's commands. */
  lang: string;
  /** The interpreter Python environments are made from. @default python3 */
  basePython?: string;
}

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
  /**
   * The version of the Python that run steps with `python:` build their environments from (part
   * of their cache key), e.g. `3.12.3`. @default asked from `run.basePython` once per process
   */
  pythonVersion?: () => Promise<string>;
  /** How `run` steps work here. @default folders under `<scratchDir>/run`, checkpoints every 30 s */
  run?: RunStepSettings;
  /** The MLflow tracking server of pipelines with `tracking.mlflow` (MLFLOW_TRACKING_URI and credentials). */
  mlflow?: MlflowSettings;
}
