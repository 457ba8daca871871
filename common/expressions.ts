import { PipelineSpecError } from './errors.ts';

/**
 * `${{ … }}` expressions in pipeline inputs. Two forms exist:
 *
 * - `${{ params.<name> }}`: substituted by the client before the run starts;
 * - `${{ steps.<id>.outputs.<name>[.<field>…] }}`: substituted by the workflow just before the
 *   step runs, from the recorded outputs of an upstream step;
 * - `${{ matrix.<name> }}`: only in the `with:` of a step with a `matrix` (a sweep), substituted
 *   by the workflow with one trial's value of that matrix entry;
 * - `${{ item }}` / `${{ item.<field>… }}`: only in the `with:` of a step with `foreach`,
 *   substituted by the workflow with one element of the list (or a field of it).
 *
 * A string that is exactly one expression becomes the referenced value with its type (a number
 * stays a number, an object stays an object); expressions inside a longer string are
 * interpolated as text. Sandbox-safe: no Node built-ins, so the workflow can import it.
 */

export interface ParamReference {
  kind: 'param';
  name: string;
  /** The expression as written, e.g. `${{ params.seed }}`. */
  raw: string;
}

export interface StepOutputReference {
  kind: 'step-output';
  stepId: string;
  output: string;
  /** Fields below the output, e.g. `['auc']` for `steps.evaluate.outputs.metrics.auc`. */
  field: string[];
  raw: string;
}

export interface MatrixReference {
  kind: 'matrix';
  name: string;
  raw: string;
}

/** `${{ item }}` or `${{ item.<field>… }}`: one element of a `foreach` step's list, per item. */
export interface ItemReference {
  kind: 'item';
  /** Fields below the item, e.g. `['shard']` for `item.shard`; empty for the whole item. */
  field: string[];
  raw: string;
}

export type Reference = ParamReference | StepOutputReference | MatrixReference | ItemReference;

/** One piece of a template string: literal text or an expression. */
export type TemplatePart = string | Reference;

/** Where a reference sits inside a nested value: object keys and array indexes. */
export type ValuePath = (string | number)[];

export interface FoundReference {
  path: ValuePath;
  reference: Reference;
}

const EXPRESSION = /\$\{\{(.*?)\}\}/g;
const NAME = '[A-Za-z_][A-Za-z0-9_-]*';
const PARAM_BODY = new RegExp(`^params\\.(${NAME})$`);
const MATRIX_BODY = new RegExp(`^matrix\\.(${NAME})$`);
const ITEM_BODY = new RegExp(`^item((?:\\.${NAME})*)$`);
const STEP_OUTPUT_BODY = new RegExp(`^steps\\.(${NAME})\\.outputs\\.(${NAME})((?:\\.${NAME})*)$`);

/** Parses the inside of `${{ … }}`; throws PipelineSpecError for anything but the two forms. */
export function parseExpression(raw: string, body: string): Reference {
  const text = body.trim();
  const param = PARAM_BODY.exec(text);
  if (param?.[1] !== undefined) return { kind: 'param', name: param[1], raw };
  const matrix = MATRIX_BODY.exec(text);
  if (matrix?.[1] !== undefined) return { kind: 'matrix', name: matrix[1], raw };
  const item = ITEM_BODY.exec(text);
  if (item !== null) return { kind: 'item', field: (item[1] ?? '').split('.').filter((part) => part !== ''), raw };
  const step = STEP_OUTPUT_BODY.exec(text);
  if (step?.[1] !== undefined && step[2] !== undefined) {
    const field = (step[3] ?? '').split('.').filter((part) => part !== '');
    return { kind: 'step-output', stepId: step[1], output: step[2], field, raw };
  }
  throw new PipelineSpecError(
    `Invalid expression ${raw}: expected \${{ params.<name> }}, \${{ steps.<id>.outputs.<name> }}, \${{ matrix.<name> }} or \${{ item }}`,
  );
}

/** Splits a string into literal text and references; throws PipelineSpecError on a bad expression. */
export function parseTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of text.matchAll(EXPRESSION)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(parseExpression(match[0], match[1] ?? ''));
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  const rest = parts.filter((part): part is string => typeof part === 'string').join('');
  if (rest.includes('${{')) {
    throw new PipelineSpecError(`Invalid expression in "${text}": "\${{" without a closing "}}"`);
  }
  return parts;
}

/** True when a string holds at least one `${{`. Cheap pre-check before parsing. */
export function hasExpression(text: string): boolean {
  return text.includes('${{');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every reference in a nested value (strings inside objects and arrays), with its path. */
export function findReferences(value: unknown, path: ValuePath = []): FoundReference[] {
  if (typeof value === 'string') {
    if (!hasExpression(value)) return [];
    return parseTemplate(value)
      .filter((part): part is Reference => typeof part !== 'string')
      .map((reference) => ({ path, reference }));
  }
  if (Array.isArray(value)) return value.flatMap((item, index) => findReferences(item, [...path, index]));
  if (isPlainObject(value)) {
    return Object.entries(value).flatMap(([key, item]) => findReferences(item, [...path, key]));
  }
  return [];
}

/** How to look up a reference; `undefined` leaves it in place as written. */
type Lookup = (reference: Reference) => { value: unknown } | undefined;

function interpolate(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function substitute(value: unknown, lookup: Lookup): unknown {
  if (typeof value === 'string') {
    if (!hasExpression(value)) return value;
    const parts = parseTemplate(value);
    const only = parts[0];
    if (parts.length === 1 && only !== undefined && typeof only !== 'string') {
      const found = lookup(only);
      return found === undefined ? value : found.value;
    }
    return parts
      .map((part) => {
        if (typeof part === 'string') return part;
        const found = lookup(part);
        return found === undefined ? part.raw : interpolate(found.value);
      })
      .join('');
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, lookup));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, lookup)]));
  }
  return value;
}

/**
 * Replaces `${{ params.* }}` with parameter values; step-output references stay as written (the
 * workflow resolves them). Throws PipelineSpecError naming an unknown parameter.
 */
export function resolveParams(value: unknown, params: Readonly<Record<string, unknown>>): unknown {
  return substitute(value, (reference) => {
    if (reference.kind !== 'param') return undefined;
    if (!Object.hasOwn(params, reference.name)) {
      throw new PipelineSpecError(`Cannot resolve ${reference.raw}: unknown param "${reference.name}"`);
    }
    return { value: params[reference.name] };
  });
}

/**
 * Replaces `${{ steps.<id>.outputs.<name> }}` with recorded outputs, at run time in the
 * workflow. Throws PipelineSpecError naming the reference when the step, output or field is
 * missing, or when a `params` reference was left unresolved by the client; `${{ matrix.* }}`
 * is an error too unless `keepMatrix` (a sweep's inputs before the trials are made).
 */
export function resolveStepOutputs(
  value: unknown,
  outputsByStepId: Readonly<Record<string, Readonly<Record<string, unknown>> | undefined>>,
  options: { keepMatrix?: boolean; keepItem?: boolean } = {},
): unknown {
  return substitute(value, (reference) => {
    if (reference.kind === 'param') {
      throw new PipelineSpecError(`Cannot resolve ${reference.raw}: params are resolved by the client before the run`);
    }
    if (reference.kind === 'item' && options.keepItem === true) return undefined;
    if (reference.kind === 'item') {
      throw new PipelineSpecError(`Cannot resolve ${reference.raw}: items exist only in the with: of a step with foreach`);
    }
    if (reference.kind === 'matrix' && options.keepMatrix === true) return undefined;
    if (reference.kind === 'matrix') {
      throw new PipelineSpecError(`Cannot resolve ${reference.raw}: matrix values are substituted per trial of a sweep step`);
    }
    const outputs = Object.hasOwn(outputsByStepId, reference.stepId) ? outputsByStepId[reference.stepId] : undefined;
    if (outputs === undefined) {
      throw new PipelineSpecError(`Cannot resolve ${reference.raw}: no outputs recorded for step "${reference.stepId}"`);
    }
    if (!Object.hasOwn(outputs, reference.output)) {
      throw new PipelineSpecError(
        `Cannot resolve ${reference.raw}: step "${reference.stepId}" has no output "${reference.output}"`,
      );
    }
    let current: unknown = outputs[reference.output];
    for (const field of reference.field) {
      if (!isPlainObject(current) || !Object.hasOwn(current, field)) {
        throw new PipelineSpecError(`Cannot resolve ${reference.raw}: no field "${field}"`);
      }
      current = current[field];
    }
    return { value: current };
  });
}

/**
 * Replaces `${{ matrix.<name> }}` with one trial's values (a whole-string reference keeps the
 * value's type); other references stay as written. Throws PipelineSpecError for a name the
 * trial has no value for.
 */
export function resolveMatrix(value: unknown, matrix: Readonly<Record<string, unknown>>): unknown {
  return substitute(value, (reference) => {
    if (reference.kind !== 'matrix') return undefined;
    if (!Object.hasOwn(matrix, reference.name)) {
      throw new PipelineSpecError(`Cannot resolve ${reference.raw}: the matrix has no entry "${reference.name}"`);
    }
    return { value: matrix[reference.name] };
  });
}

/**
 * Replaces `${{ item }}` / `${{ item.<field> }}` with one element of a `foreach` list (a
 * whole-string reference keeps the value's type); other references stay as written. Throws
 * PipelineSpecError for a field the item lacks.
 */
export function resolveItem(value: unknown, item: unknown): unknown {
  return substitute(value, (reference) => {
    if (reference.kind !== 'item') return undefined;
    let current = item;
    for (const field of reference.field) {
      if (!isPlainObject(current) || !Object.hasOwn(current, field)) {
        throw new PipelineSpecError(`Cannot resolve ${reference.raw}: the item ${JSON.stringify(current)?.slice(0, 80) ?? 'undefined'} has no field "${field}"`);
      }
      current = current[field];
    }
    return { value: current };
  });
}
