import { ConfigError } from './errors.ts';

/**
 * Object keys are built from names a user writes (pipeline name, run key, step id, model name):
 * `runs/<workflowId>/<stepId>/…`. These checks keep such a name inside its prefix. Sandbox-safe.
 */

/** Why `key` could leave its prefix or name another object than it seems to (`..`, `/x`, `a//b`), or undefined when it is safe. */
export function unsafeObjectKeyReason(key: string): string | undefined {
  if (key === '') return 'it is empty';
  if (key.startsWith('/')) return 'it is absolute (starts with /)';
  if (key.includes('\\')) return 'it contains a backslash';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'it contains a control character';
  const segments = key.split('/');
  // A trailing slash is a folder-like prefix, not an empty segment in the middle.
  if (segments.slice(0, -1).some((segment) => segment === '')) return 'it has an empty path segment (//)';
  if (segments.some((segment) => segment === '.' || segment === '..')) return 'it has a . or .. path segment';
  return undefined;
}

/** Run keys become part of workflow ids and object keys: one safe path segment. */
export const RUN_KEY_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$/;

/** Throws ConfigError when a run key could not stay one segment of an object key. */
export function checkRunKey(runKey: string): void {
  if (!RUN_KEY_PATTERN.test(runKey) || runKey.includes('..')) {
    throw new ConfigError(
      `Invalid run key '${runKey}': expected up to 100 letters, digits, _, ., : and -, starting with a letter, digit or _, without '..' (it becomes part of the workflow id and of object keys runs/<workflowId>/…)`,
    );
  }
}

/**
 * The log of one attempt of a `run` step, streamed while it runs: `<runPrefix>logs/attempt-<n>.log`.
 * `runPrefix` is the step's (`runs/<workflowId>/<stepId>/`) or a sweep trial's (`…/trials/<n>/`).
 */
export function stepLogKey(runPrefix: string, attempt: number): string {
  return `${runPrefix}logs/attempt-${attempt}.log`;
}

/** Written when the attempt ended (a `StepLogStatus`, common/step-log.ts): its presence means the log is complete. */
export function stepLogStatusKey(runPrefix: string, attempt: number): string {
  return `${runPrefix}logs/attempt-${attempt}.json`;
}

/** Where a `run` step's packaged code folder is stored once: `code/<sha256>.tar.gz`, the sha256 of the archive's bytes. */
export function codeArchiveKey(sha256: string): string {
  return `code/${sha256}.tar.gz`;
}
