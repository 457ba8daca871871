import type { z } from 'zod';
import type { ValuePath } from '../expressions.ts';

/** A problem at a path inside the pipeline document; the client adds the YAML position. */
export interface SpecIssue {
  path: ValuePath;
  message: string;
  /** Point at the key of the last path element rather than its value (unknown keys). */
  atKey?: boolean;
}

/** Marks issues whose message already names its subject, so no path prefix is added. */
export const SELF_DESCRIBING = { selfDescribing: true } as const;

/** `steps[1].with.model` for `['steps', 1, 'with', 'model']`. */
export function formatPath(path: ValuePath): string {
  return path
    .map((part, index) => (typeof part === 'number' ? `[${part}]` : index === 0 ? part : `.${part}`))
    .join('');
}

function withPath(path: ValuePath, message: string): string {
  return path.length === 0 ? message : `${formatPath(path)}: ${message}`;
}

function unionMessage(issue: z.core.$ZodIssueInvalidUnion): string {
  const options = issue.errors
    .map((errors) => errors.map((inner) => inner.message.replace(/^Invalid input: /, '')).join(', '))
    .filter((text) => text !== '');
  return options.length === 0 ? issue.message : `Invalid input: ${[...new Set(options)].join(' or ')}`;
}

/** Turns zod issues into spec issues, with paths relative to the document (`prefix` first). */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[], prefix: ValuePath = []): SpecIssue[] {
  return issues.flatMap((issue): SpecIssue[] => {
    const path: ValuePath = [...prefix, ...issue.path.filter((part): part is string | number => typeof part !== 'symbol')];
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => ({ path: [...path, key], message: withPath(path, `unknown key "${key}"`), atKey: true }));
      case 'invalid_union':
        return [{ path, message: withPath(path, unionMessage(issue)) }];
      case 'custom':
        return [{ path, message: issue.params?.['selfDescribing'] === true ? issue.message : withPath(path, issue.message) }];
      default:
        return [{ path, message: withPath(path, issue.message) }];
    }
  });
}
