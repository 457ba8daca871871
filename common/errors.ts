/**
 * Error tree shared by workflows, activities and the client.
 *
 * A plain `Error` thrown in an activity reaches Temporal with its `name` as the failure type,
 * which `nonRetryableErrorTypes` matches: domain errors therefore need no Temporal import and
 * this file stays sandbox-safe. Every class sets `name` explicitly because bundlers and
 * minifiers rename classes.
 */

/** Base class of every error this project throws on purpose. */
export class PipelineError extends Error {
  override name = 'PipelineError';
}

/** Thrown when a pipeline file or resolved spec is invalid (schema, references, cycles). */
export class PipelineSpecError extends PipelineError {
  override name = 'PipelineSpecError';
}

/** A validation problem with its place in the pipeline file (1-based line and column). */
export interface PipelineProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

/** Thrown by the client when a pipeline file fails validation; lists every problem with its position. */
export class PipelineValidationError extends PipelineSpecError {
  override name = 'PipelineValidationError';
  readonly problems: readonly PipelineProblem[];

  constructor(problems: readonly PipelineProblem[]) {
    super(problems.map((problem) => `${problem.file}:${problem.line}:${problem.col}: ${problem.message}`).join('\n'));
    this.problems = problems;
  }
}

/** Thrown when the worker or client configuration (environment, flags) is invalid. */
export class ConfigError extends PipelineError {
  override name = 'ConfigError';
}

/** Thrown when a dataset cannot be imported or split (layout, empty class, bad archive). */
export class DatasetError extends PipelineError {
  override name = 'DatasetError';
}

/** Thrown when an archive is unsafe or unreadable (path escape, symlink, bomb, truncated). */
export class ArchiveError extends DatasetError {
  override name = 'ArchiveError';
}

/** Thrown when a download source refuses the request (4xx status) or its URL scheme is unsupported. */
export class DownloadError extends PipelineError {
  override name = 'DownloadError';
}

/**
 * Thrown when a public source (the demo's MobileNet or X-ray archive) cannot be fetched: no
 * network, a refused connection, a timeout or an error status. The demo then runs offline.
 */
export class SourceUnreachableError extends PipelineError {
  override name = 'SourceUnreachableError';
}

/** Thrown when downloaded bytes do not match their pin (a dataset's sha256, a weights file's sha256 or md5). */
export class ChecksumMismatchError extends PipelineError {
  override name = 'ChecksumMismatchError';
}

/**
 * Thrown when `model.weights` and `model.weightsHash` do not name weights the backbone can load
 * (an unknown `keras:` name, another backbone's weights, a pin on a TF.js model); names the field.
 */
export class WeightsReferenceError extends PipelineSpecError {
  override name = 'WeightsReferenceError';
  readonly field: 'weights' | 'weightsHash';

  constructor(field: 'weights' | 'weightsHash', message: string) {
    super(message);
    this.field = field;
  }
}

/**
 * Thrown when a weights file is not the Keras HDF5 weights its backbone needs: not HDF5,
 * truncated, no `layer_names`, a missing or unexpected layer, a weight of another shape.
 */
export class WeightsFileError extends PipelineError {
  override name = 'WeightsFileError';
}

/** Thrown by `mlp reproduce` when the re-run's dataset hash differs from the original run's (the source data changed). */
export class DatasetHashMismatchError extends PipelineError {
  override name = 'DatasetHashMismatchError';
}

/** Thrown when an object that a step needs is not in storage. */
export class ArtifactNotFoundError extends PipelineError {
  override name = 'ArtifactNotFoundError';
}

/**
 * Thrown by `mlp artifacts`, `mlp report` and `mlp compare` when a request names no artifact of
 * the run: an unknown step, a step that wrote nothing, or a path outside the step's folder.
 */
export class ArtifactPathError extends PipelineError {
  override name = 'ArtifactPathError';
}

/** Thrown by the CLI when a workflow id (and run id) names no run on the Temporal server. */
export class RunNotFoundError extends PipelineError {
  override name = 'RunNotFoundError';
}

/** Thrown when training produces a non-finite loss. */
export class TrainingDivergedError extends PipelineError {
  override name = 'TrainingDivergedError';
}

/** Thrown when the selected training engine cannot do what the spec asks. */
export class EngineCapabilityError extends PipelineError {
  override name = 'EngineCapabilityError';
}

/** Thrown when a server binary (Temporal CLI, S3 server) is missing, too old, or cannot be built. */
export class ServerBinaryError extends PipelineError {
  override name = 'ServerBinaryError';
}

/** Thrown when a local server (Temporal dev server, S3 server) exits early or does not become healthy in time. */
export class ServerStartError extends PipelineError {
  override name = 'ServerStartError';
}

/** Thrown when a model or its predictions cannot be evaluated as asked (its classes differ from the manifest's, a split lacks a class, a threshold chosen off validation, a bad row in a predictions CSV). */
export class EvaluationError extends PipelineError {
  override name = 'EvaluationError';
}

/** Thrown when the model registry refuses an operation (unknown model or version, bad registry record). */
export class ModelRegistryError extends PipelineError {
  override name = 'ModelRegistryError';
}

/** Thrown when a `run` step's code cannot be packaged, staged or unpacked (missing folder, too large, a path escaping it). */
export class RunCodeError extends PipelineSpecError {
  override name = 'RunCodeError';
}

/** Thrown when a `run` step's Python environment cannot be built (pip failed: its last lines are in the message). */
export class PythonEnvironmentError extends PipelineError {
  override name = 'PythonEnvironmentError';
}

/**
 * Thrown when pip could not reach its package index (or mirror) while building a `run` step's
 * Python environment: a network failure, so the step's retry policy retries it, unlike
 * PythonEnvironmentError.
 */
export class PythonPackageIndexError extends PipelineError {
  override name = 'PythonPackageIndexError';
}

/** Thrown when a `run` step's command broke the step's contract: a declared output missing, an output escaping its folder, metrics that are not a JSON object of numbers, a command that does not exist. */
export class RunContractError extends PipelineError {
  override name = 'RunContractError';
}

/**
 * Thrown when a `run` step's command exited with a code other than 0 or was ended by a signal;
 * names the code or signal and quotes the log's last lines. Retried by the step's retry policy,
 * except for the codes listed in `nonRetryableExitCodes` (those fail with this type, marked
 * non-retryable).
 */
export class RunCommandError extends PipelineError {
  override name = 'RunCommandError';
}

/** Thrown (as the failure type of a `runPipeline` run) when one of its steps failed; names the step. */
export class StepFailedError extends PipelineError {
  override name = 'StepFailedError';
}

/**
 * Thrown when a `notify:` webhook did not take a run's notification (an error status, no
 * answer). The message never holds the URL: it usually carries a token.
 */
export class WebhookError extends PipelineError {
  override name = 'WebhookError';
}

/** The webhook refused the notification (a 4xx other than 408 and 429): retrying sends the same. */
export class WebhookRejectedError extends WebhookError {
  override name = 'WebhookRejectedError';
}

/**
 * Failure types that retrying cannot fix. Passed to every activity's retry policy as
 * `nonRetryableErrorTypes`.
 */
export const NON_RETRYABLE_ERROR_TYPES: readonly string[] = [
  'PipelineSpecError',
  'PipelineValidationError',
  'ConfigError',
  'DatasetError',
  'ArchiveError',
  'DownloadError',
  'ChecksumMismatchError',
  'WeightsReferenceError',
  'WeightsFileError',
  'DatasetHashMismatchError',
  'ArtifactNotFoundError',
  'TrainingDivergedError',
  'EngineCapabilityError',
  'EvaluationError',
  'ModelRegistryError',
  'RunCodeError',
  'PythonEnvironmentError',
  'RunContractError',
  'WebhookRejectedError',
];
