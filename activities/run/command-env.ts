import type { RunStepSettings } from '../deps.ts';

/**
 * The environment of a user's command: a minimal base, the MLP_* variables and the step's
 * `env:`, built from scratch, never from the worker's own environment, so the worker's S3 keys,
 * Temporal API key and TLS material cannot reach user code.
 */

export interface AttemptFolders {
  inputs: string;
  outputs: string;
  checkpoints: string;
  home: string;
  tmp: string;
  metrics: string;
}

export interface CommandEnvRequest {
  settings: Pick<RunStepSettings, 'commandPath' | 'lang'>;
  folders: AttemptFolders;
  stepId: string;
  workflowId: string;
  attempt: number;
  /** The venv's bin folder, put first on PATH, when the step has `python:`. */
  pythonBin?: string;
  /** The step's `env:`. */
  env: Readonly<Record<string, string>>;
}

export function commandEnvironment(request: CommandEnvRequest): Record<string, string> {
  const { folders, settings } = request;
  const path = request.pythonBin === undefined ? settings.commandPath : `${request.pythonBin}:${settings.commandPath}`;
  return {
    PATH: path,
    HOME: folders.home,
    TMPDIR: folders.tmp,
    LANG: settings.lang,
    MLP_INPUTS: folders.inputs,
    MLP_OUTPUTS: folders.outputs,
    MLP_METRICS: folders.metrics,
    MLP_CHECKPOINTS: folders.checkpoints,
    MLP_STEP_ID: request.stepId,
    MLP_RUN_ID: request.workflowId,
    MLP_ATTEMPT: String(request.attempt),
    ...(request.pythonBin === undefined ? {} : { VIRTUAL_ENV: request.pythonBin.replace(/\/bin$/, '') }),
    ...request.env,
  };
}
