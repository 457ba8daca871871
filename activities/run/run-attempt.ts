import { mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from '@temporalio/common';
import { RunCodeError, RunCommandError } from '../../common/errors.ts';
import { stepLogKey } from '../../common/object-keys.ts';
import type { StepContext } from '../../common/step-activities.ts';
import { runStep, type RunInput, type RunOutput } from '../../common/step-kinds/run.ts';
import type { RunStepSettings } from '../deps.ts';
import type { ObjectStore } from '../object-store.ts';
import { restoreCheckpoints, syncCheckpoints } from './checkpoint-sync.ts';
import { ensureCodeFolder, packagedCodeSha256 } from './code-folder.ts';
import { commandEnvironment, type AttemptFolders } from './command-env.ts';
import { startCommand, type CommandExit } from './command-process.ts';
import { stageInputs } from './input-staging.ts';
import { readMetricsFile } from './metrics-file.ts';
import { uploadOutputs } from './output-upload.ts';
import { parseProgressLine } from './progress-line.ts';
import { ensurePythonEnv } from './python-env.ts';
import { removeTree } from './read-only-tree.ts';
import { createStepLogWriter, type StepLogWriter } from './step-log.ts';

/**
 * One attempt of a `run` step: the user's command with its code, inputs, outputs, checkpoints,
 * log and metrics. On the worker, under MLP_RUN_DIR:
 *
 *   code/<sha256>/             the unpacked code (read-only files, shared by every step with that
 *                              code, kept); the command's working directory
 *   envs/<envKey>/             Python environments (MLP_RUN_ENVS_DIR), one per (version, requirements)
 *   attempts/<workflowId>/<stepId>[/trials/<n>]/attempt-<n>/   this attempt, removed when it ends:
 *     inputs/<name>            $MLP_INPUTS: each input, read-only (input-staging.ts: a file, a
 *                              folder, or a split as images.npy, labels.npy, classes.txt, images.csv)
 *     outputs/<name>           $MLP_OUTPUTS: each declared output, a file or a folder
 *     checkpoints/             $MLP_CHECKPOINTS: restored from the last attempt before the command
 *                              starts, saved while it runs (at most every 30 s) and when it exits
 *     metrics.json             $MLP_METRICS: a JSON object of numbers, if the command writes it
 *     home/, tmp/              $HOME and $TMPDIR
 *
 * In object storage, under the step's run prefix (`runs/<workflowId>/<stepId>/`, a sweep trial's
 * `…/trials/<n>/`): `logs/attempt-<n>.log` (+ `.json` status when it ended) and `checkpoints/`;
 * outputs go to `artifacts/<sha256>/<name>` (a file) or `artifacts/<sha256>/` (a folder).
 *
 * Heartbeat details: `{ phase: 'code' | 'environment' | 'inputs' | 'running' | 'outputs', done?,
 * total?, message?, lastLine? }`; a stdout line `::mlp progress {"done": 3, "total": 10,
 * "message": "epoch 3"}` sets done, total and message.
 */

export interface RunProgress {
  phase: 'code' | 'environment' | 'inputs' | 'running' | 'outputs';
  done?: number;
  total?: number;
  message?: string;
  lastLine?: string;
}

/** Lines of the log an error quotes. */
const ERROR_TAIL_LINES = 20;

export interface RunAttemptRequest {
  input: RunInput;
  context: StepContext;
  attempt: number;
  store: ObjectStore;
  settings: RunStepSettings;
  log: Logger;
  heartbeat: (details: RunProgress) => void;
  /** Aborted on cancellation, step timeout or worker shutdown: the command's group is stopped. */
  signal: AbortSignal;
  /** Between two uploads of the streamed log. @default the log writer's */
  logFlushIntervalMs?: number;
}

/** `runs/<workflowId>/<stepId>/…` → `<runDir>/attempts/<workflowId>/<stepId>/…/attempt-<n>`. */
function attemptDir(settings: RunStepSettings, runPrefix: string, attempt: number): string {
  const path = runPrefix.replace(/^runs\//, '').replace(/\/$/, '');
  return join(settings.runDir, 'attempts', ...path.split('/'), `attempt-${attempt}`);
}

/**
 * Removes this attempt's folder and those of the step's earlier attempts: a step runs one attempt
 * at a time, so any other is left over from a worker that died before it could clean up.
 */
async function removeEarlierAttempts(root: string): Promise<void> {
  const stepDir = dirname(root);
  const entries = await readdir(stepDir).catch(() => []);
  for (const entry of entries.filter((name) => /^attempt-\d+$/.test(name))) await removeTree(join(stepDir, entry));
}

async function makeFolders(root: string): Promise<AttemptFolders> {
  const folders: AttemptFolders = {
    inputs: join(root, 'inputs'),
    outputs: join(root, 'outputs'),
    checkpoints: join(root, 'checkpoints'),
    home: join(root, 'home'),
    tmp: join(root, 'tmp'),
    metrics: join(root, 'metrics.json'),
  };
  for (const folder of [folders.outputs, folders.checkpoints, folders.home, folders.tmp]) await mkdir(folder, { recursive: true });
  return folders;
}

/** The requirements file's text, which must be inside the code folder. */
async function requirementsText(codeDir: string, requirements: string | undefined, stepId: string): Promise<string> {
  if (requirements === undefined) return '';
  const path = join(codeDir, requirements);
  const inside = relative(codeDir, path);
  if (inside.startsWith(`..${sep}`) || inside === '..') throw new RunCodeError(`Run step "${stepId}": python.requirements "${requirements}" is outside the code folder`);
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw new RunCodeError(`Run step "${stepId}": python.requirements "${requirements}" is not a file in the code folder`);
  }
}

function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('Run step cancelled');
}

/** The failure of a command that did not exit 0: retried, unless its code is one the step marks non-retryable. */
function commandFailure(input: RunInput, exit: CommandExit, log: StepLogWriter, attempt: number): Error {
  const how = exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? 'none'}`;
  const tail = log.tail(ERROR_TAIL_LINES);
  const message = `Command ${JSON.stringify(input.command.map(String))} ${how} (attempt ${attempt}); last ${tail.length} log lines:\n${tail.join('\n')}`;
  if (exit.code !== null && input.nonRetryableExitCodes.includes(exit.code)) {
    return ApplicationFailure.create({ type: 'RunCommandError', message, nonRetryable: true });
  }
  return new RunCommandError(message);
}

/** Runs one attempt and returns the step's outputs; see the module comment for what goes where. */
export async function runAttempt(request: RunAttemptRequest): Promise<RunOutput> {
  const { input, context, attempt, store, settings, signal } = request;
  let progress: RunProgress = { phase: 'code' };
  const report = (update: Partial<RunProgress>): void => {
    progress = { ...progress, ...update };
    request.heartbeat(progress);
  };
  report({});

  const log = createStepLogWriter({
    store,
    key: stepLogKey(context.runPrefix, attempt),
    ...(request.logFlushIntervalMs === undefined ? {} : { flushIntervalMs: request.logFlushIntervalMs }),
  });
  const startedAt = new Date().toISOString();
  let exit: CommandExit = { code: null, signal: null };
  const root = attemptDir(settings, context.runPrefix, attempt);
  try {
    const codeDir = await ensureCodeFolder(store, settings.runDir, packagedCodeSha256(input.code, context.stepId));
    throwIfCancelled(signal);

    let python: string | undefined;
    if (input.python !== undefined) {
      report({ phase: 'environment' });
      const env = await ensurePythonEnv({
        envsDir: settings.envsDir,
        requirementsText: await requirementsText(codeDir, input.python.requirements, context.stepId),
        ...(settings.basePython === undefined ? {} : { basePython: settings.basePython }),
        signal,
        onLine: (line) => log.append(line),
      });
      python = env.python;
    }
    throwIfCancelled(signal);

    await removeEarlierAttempts(root);
    const folders = await makeFolders(root);
    report({ phase: 'inputs', done: 0, total: Object.keys(input.inputs).length });
    await stageInputs(store, folders.inputs, input.inputs, (staged, done, total) => report({ done, total, message: staged.name }));
    const restored = await restoreCheckpoints(store, context.runPrefix, folders.checkpoints);
    if (restored.files.length > 0) log.append(`[mlp] restored ${restored.files.length} checkpoint file(s) from an earlier attempt`);
    throwIfCancelled(signal);

    const [program = '', ...args] = input.command.map(String);
    report({ phase: 'running', done: undefined, total: undefined, message: undefined });
    const command = await startCommand({
      command: program === 'python' && python !== undefined ? python : program,
      args,
      cwd: codeDir,
      env: commandEnvironment({
        settings,
        folders,
        stepId: context.stepId,
        workflowId: context.workflowId,
        attempt,
        env: input.env,
        ...(python === undefined ? {} : { pythonBin: dirname(python) }),
      }),
      graceMs: input.gracePeriodSeconds * 1000,
      onLine: (line, stream) => {
        const parsed = stream === 'stdout' ? parseProgressLine(line) : undefined;
        if (parsed !== undefined && 'progress' in parsed) return report(parsed.progress);
        if (parsed !== undefined) log.append(`[mlp] ignored a malformed progress line (${parsed.problem}): ${line}`);
        else log.append(line);
        report({ lastLine: log.lastLine() });
      },
    });
    const checkpoints = syncCheckpoints({
      store,
      runPrefix: context.runPrefix,
      folder: folders.checkpoints,
      intervalMs: settings.checkpointIntervalMs,
      restored,
      onError: (error) => request.log.warn('Saving checkpoints failed; retrying at the next interval', { error: String(error) }),
    });
    const stopOnCancel = (): void => void command.stop();
    signal.addEventListener('abort', stopOnCancel, { once: true });
    // Cancelled while the command was starting: the listener came too late for that abort.
    if (signal.aborted) stopOnCancel();
    try {
      exit = await command.exited;
    } finally {
      signal.removeEventListener('abort', stopOnCancel);
      // Saved whatever happened: a retry (after a crash, a timeout, a shutdown) resumes from it.
      await checkpoints.finish();
    }
    throwIfCancelled(signal);
    if (exit.code !== 0) throw commandFailure(input, exit, log, attempt);

    report({ phase: 'outputs', message: undefined });
    const metrics = await readMetricsFile(folders.metrics);
    const uploaded = await uploadOutputs(store, folders.outputs, input.outputs);
    for (const entry of uploaded.undeclared) {
      log.append(`[mlp] warning: $MLP_OUTPUTS/${entry} is not a declared output; it was not uploaded`);
      request.log.warn('Undeclared entry in $MLP_OUTPUTS was not uploaded', { stepId: context.stepId, entry });
    }
    // Through the kind's schema: an output record mixes keys with `metrics` and `artifacts`, which only the schema types.
    return runStep.output.parse({ ...uploaded.keys, metrics, artifacts: uploaded.artifacts });
  } finally {
    try {
      await log.close({ attempt, exitCode: exit.code, signal: exit.signal, startedAt, endedAt: new Date().toISOString() });
    } catch (error) {
      request.log.warn('Uploading the step log failed', { stepId: context.stepId, error: String(error) });
    }
    await removeTree(root);
  }
}
