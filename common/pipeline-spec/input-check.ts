import { z } from 'zod';
import { findReferences, type Reference, type StepOutputReference, type ValuePath } from '../expressions.ts';
import type { StepKind } from '../step-kind.ts';
import { SELECTED_TRIAL_OUTPUT, TRIALS_OUTPUT } from './graph-rules.ts';
import { formatPath, fromZodIssues, type SpecIssue } from './issues.ts';

/**
 * Checks a step's `with` (params already substituted) against its kind's input schema.
 *
 * `${{ steps.<id>.outputs.<name> }}` references are only known at run time, so the schema's
 * complaints about the values that hold them are set aside; instead the type the upstream kind
 * declares for that output is compared with the type the input accepts there (JSON Schema
 * types of both). A reference inside a longer string always yields a string.
 */

type JsonSchema = Record<string, unknown>;

const jsonSchemaCache = new WeakMap<z.ZodType, JsonSchema>();

export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const cached = jsonSchemaCache.get(schema);
  if (cached !== undefined) return cached;
  const json: JsonSchema = z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  jsonSchemaCache.set(schema, json);
  return json;
}

function isRecord(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function alternatives(node: JsonSchema): JsonSchema[] {
  const nested = [node['anyOf'], node['oneOf'], node['allOf']].flatMap((list) => (Array.isArray(list) ? list.filter(isRecord) : []));
  return nested.length > 0 ? nested.flatMap(alternatives) : [node];
}

/** Sub-schemas that may describe the value at `path`; empty when nothing can be there. */
export function schemasAt(node: JsonSchema, path: ValuePath): JsonSchema[] {
  if (path.length === 0) return [node];
  const [head, ...rest] = path;
  return alternatives(node).flatMap((option) => {
    if (typeof head === 'number') return isRecord(option['items']) ? schemasAt(option['items'], rest) : [];
    const properties = option['properties'];
    const property = isRecord(properties) ? properties[head ?? ''] : undefined;
    if (isRecord(property)) return schemasAt(property, rest);
    if (isRecord(option['additionalProperties'])) return schemasAt(option['additionalProperties'], rest);
    return Object.keys(option).every((key) => key === '$schema' || key === 'description' || key === 'default') ? [{}] : [];
  });
}

/** JSON types a schema allows; `any` when it does not say. */
export function typesOf(schemas: JsonSchema[]): Set<string> {
  const types = new Set<string>();
  for (const option of schemas.flatMap(alternatives)) {
    const type = option['type'];
    if (typeof type === 'string') types.add(type);
    else if (Array.isArray(type)) type.forEach((item) => types.add(String(item)));
    else if ('const' in option) types.add(option['const'] === null ? 'null' : typeof option['const']);
    else if (Array.isArray(option['enum'])) option['enum'].forEach((item) => types.add(item === null ? 'null' : typeof item));
    else types.add('any');
  }
  return types;
}

function describeTypes(types: Set<string>): string {
  return [...types].sort().join(' or ');
}

function accepts(expected: Set<string>, actual: Set<string>): boolean {
  if (expected.has('any') || actual.has('any')) return true;
  return [...actual].every((type) => expected.has(type) || (type === 'integer' && expected.has('number')));
}

function startsWith(path: ValuePath, prefix: ValuePath): boolean {
  return prefix.length <= path.length && prefix.every((part, index) => path[index] === part);
}

export interface InputCheckResult {
  /** Inputs with the kind's defaults applied where no reference stands in the way. */
  value: Record<string, unknown>;
  issues: SpecIssue[];
}

/**
 * Validates `input` for `kind`. `upstreamKinds` maps step ids to their kinds, for typing
 * references; `at` is the document path of `with` (for issue paths).
 */
export function checkStepInput(
  kind: StepKind,
  input: Record<string, unknown>,
  upstreamKinds: ReadonlyMap<string, StepKind>,
  at: ValuePath,
  sweepSteps: ReadonlySet<string> = new Set(),
  foreachSteps: ReadonlySet<string> = new Set(),
): InputCheckResult {
  const all = findReferences(input);
  const references = all.filter((found): found is { path: ValuePath; reference: StepOutputReference } => found.reference.kind === 'step-output');
  // An item's type is known only at run time: a `${{ item }}` may stand where anything is expected.
  const runTime = all.filter((found) => found.reference.kind === 'step-output' || found.reference.kind === 'item');
  const parsed = kind.input.safeParse(input);
  if (parsed.success && isRecord(parsed.data)) {
    return { value: withoutUnrecordedDefaults(kind, input, parsed.data), issues: typeIssues(kind, input, references, upstreamKinds, at, sweepSteps, foreachSteps) };
  }
  const schemaIssues = parsed.success
    ? []
    : fromZodIssues(
        parsed.error.issues.filter((issue) => !runTime.some(({ path }) => startsWith(issue.path.filter((p) => typeof p !== 'symbol'), path))),
        at,
      );
  return {
    value: withoutUnrecordedDefaults(kind, input, applyFieldDefaults(kind.input, input)),
    issues: [...schemaIssues, ...typeIssues(kind, input, references, upstreamKinds, at, sweepSteps, foreachSteps)],
  };
}

/** `value` less the defaults of the kind's `unrecordedDefaults` that `input` leaves out (they keep cache keys; the activity applies them). */
function withoutUnrecordedDefaults(kind: StepKind, input: Record<string, unknown>, value: Record<string, unknown>): Record<string, unknown> {
  const unrecorded = (kind.unrecordedDefaults ?? []).filter((field) => !Object.hasOwn(input, field));
  if (unrecorded.length === 0) return value;
  return Object.fromEntries(Object.entries(value).filter(([field]) => !unrecorded.includes(field)));
}

/** Defaults of the top-level fields that hold no reference (the activity parses again anyway). */
function applyFieldDefaults(schema: z.ZodType, input: Record<string, unknown>): Record<string, unknown> {
  if (!(schema instanceof z.ZodObject)) return input;
  const result: Record<string, unknown> = { ...input };
  const shape: Record<string, z.ZodType> = schema.shape;
  for (const [key, field] of Object.entries(shape)) {
    const parsed = field.safeParse(input[key]);
    if (parsed.success && parsed.data !== undefined) result[key] = parsed.data;
  }
  return result;
}

function typeIssues(
  kind: StepKind,
  input: Record<string, unknown>,
  references: { path: ValuePath; reference: Reference }[],
  upstreamKinds: ReadonlyMap<string, StepKind>,
  at: ValuePath,
  sweepSteps: ReadonlySet<string>,
  foreachSteps: ReadonlySet<string>,
): SpecIssue[] {
  const inputSchema = jsonSchemaOf(kind.input, 'input');
  const issues: SpecIssue[] = [];
  for (const { path, reference } of references) {
    if (reference.kind !== 'step-output') continue;
    const expected = typesOf(schemasAt(inputSchema, path));
    if (expected.size === 0) continue;
    const whole = valueAt(input, path) === reference.raw;
    let actual: Set<string>;
    if (foreachSteps.has(reference.stepId)) {
      actual = new Set([whole && reference.field.length === 0 ? 'array' : whole ? 'any' : 'string']);
    } else if (whole && reference.output === TRIALS_OUTPUT && sweepSteps.has(reference.stepId)) {
      actual = new Set([reference.field.length === 0 ? 'array' : 'any']);
    } else if (whole && reference.output === SELECTED_TRIAL_OUTPUT && sweepSteps.has(reference.stepId)) {
      // Matrix values are scalars of any type the matrix lists: each trial's inputs were checked already.
      actual = new Set([reference.field.length === 0 ? 'object' : reference.field[0] === 'matrix' && reference.field.length === 1 ? 'object' : 'any']);
    } else if (whole) {
      const upstream = upstreamKinds.get(reference.stepId);
      if (upstream === undefined) continue;
      const outputSchemas = schemasAt(jsonSchemaOf(upstream.output, 'output'), [reference.output, ...reference.field]);
      if (outputSchemas.length === 0) {
        issues.push({ path: [...at, ...path], message: `${reference.raw}: output "${reference.output}" of step "${reference.stepId}" has no field "${reference.field.join('.')}"` });
        continue;
      }
      actual = typesOf(outputSchemas);
    } else {
      actual = new Set(['string']);
    }
    if (!accepts(expected, actual)) {
      issues.push({
        path: [...at, ...path],
        message: whole
          ? `${reference.raw} is a ${describeTypes(actual)}, but ${kind.uses} input "${formatPath(path)}" expects ${describeTypes(expected)}`
          : `${reference.raw} is interpolated into a string, but ${kind.uses} input "${formatPath(path)}" expects ${describeTypes(expected)}`,
      });
    }
  }
  return issues;
}

function valueAt(value: unknown, path: ValuePath): unknown {
  let current = value;
  for (const part of path) {
    if (Array.isArray(current) && typeof part === 'number') current = current[part];
    else if (isRecord(current) && typeof part === 'string') current = current[part];
    else return undefined;
  }
  return current;
}
