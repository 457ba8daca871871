import { ConfigError } from './errors.ts';

/** Reads a file's text; injected so this module stays free of Node built-ins (common/ is sandbox-safe). */
export type ReadSecretFile = (path: string) => string;

/**
 * A secret given inline (`NAME`) or as a file path (`NAME_FILE`, e.g. a Docker or Kubernetes
 * secret), the convention the worker, the CLI and the chart share. Undefined when neither is set;
 * ConfigError when both are, or when the file cannot be read. The message names the variable and
 * the path, never the value.
 */
export function readSecretVariable<Name extends string>(
  env: { readonly [Key in Name | `${Name}_FILE`]?: string | undefined },
  name: Name,
  readFile: ReadSecretFile,
): string | undefined {
  const inline = env[name];
  const file = env[`${name}_FILE` as const];
  if (inline !== undefined && inline !== '' && file !== undefined && file !== '') {
    throw new ConfigError(`Set either ${name} or ${name}_FILE, not both`);
  }
  if (inline !== undefined && inline !== '') return inline;
  if (file === undefined || file === '') return undefined;
  try {
    return readFile(file).trim();
  } catch (error) {
    const reason = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : 'unreadable';
    throw new ConfigError(`Cannot read ${name}_FILE at ${file}: ${reason}`);
  }
}
