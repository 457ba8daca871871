import { z } from 'zod';
import { findReferences, type FoundReference, type ValuePath } from '../expressions.ts';
import { SELF_DESCRIBING, type SpecIssue } from './issues.ts';
import { findStepKind, STEP_KIND_NAMES } from '../step-kinds/index.ts';
import { expandMatrix, matrixSize, MAX_SWEEP_TRIALS, type MatrixValue } from '../sweep.ts';

/**
 * Cross-field rules of a pipeline, run by zod once the structure is valid: known step kinds,
 * unique ids, existing `needs`, no cycles, and references that point at known params, known
 * steps the referencing step (transitively) needs, and outputs those steps' kinds declare.
 */

interface GraphStep {
  id: string;
  uses: string;
  needs: string[];
  with: Record<string, unknown>;
  matrix?: Record<string, unknown[]> | undefined;
  exclude?: Record<string, unknown>[] | undefined;
  maxParallel?: number | undefined;
  select?: unknown;
  minSuccess?: number | undefined;
  foreach?: string | undefined;
}

interface GraphInput {
  params: Record<string, unknown>;
  steps: GraphStep[];
}

/** The output every sweep step has besides its selected trial's: one record per trial. */
export const TRIALS_OUTPUT = 'trials';

/** The output a sweep step with `select` has: the winner's `{ index, matrix, metric }` (its settings, for later steps). */
export const SELECTED_TRIAL_OUTPUT = 'selectedTrial';

/** The output of a `foreach` step: one `{ status, outputs | error }` per item, in list order. */
export const ITEMS_OUTPUT = 'items';

const SWEEP_SETTINGS = ['exclude', 'maxParallel', 'select', 'minSuccess'] as const;

/** Sweep settings a `foreach` step takes too. */
const FOREACH_SETTINGS: readonly string[] = ['maxParallel', 'minSuccess'];

/**
 * The list reference of a `foreach`: exactly one `${{ steps.<id>.outputs.<name>… }}`, the whole
 * string. An issue (at `path`) for anything else.
 */
function foreachReference(text: string, path: ValuePath, issues: SpecIssue[]): FoundReference | undefined {
  let found: FoundReference[];
  try {
    found = findReferences(text, path);
  } catch (error) {
    issues.push({ path, message: error instanceof Error ? error.message : String(error) });
    return undefined;
  }
  const [only] = found;
  if (found.length !== 1 || only === undefined || only.reference.kind !== 'step-output' || only.reference.raw !== text.trim()) {
    issues.push({ path, message: `foreach "${text}": expected one \${{ steps.<id>.outputs.<name> }} naming a list an upstream step outputs` });
    return undefined;
  }
  return only;
}

/** Matrix shape rules of one step: settings without a matrix, an empty or oversized matrix, bad excludes. */
function sweepIssues(step: GraphStep, index: number): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const at = (key: string): ValuePath => ['steps', index, key];
  if (step.matrix !== undefined && step.foreach !== undefined) {
    issues.push({ path: at('foreach'), atKey: true, message: `step "${step.id}" has both a matrix and foreach: use one (a sweep, or a fan-out over a list)` });
    return issues;
  }
  if (step.matrix === undefined) {
    for (const key of SWEEP_SETTINGS) {
      if (step[key] === undefined || (step.foreach !== undefined && FOREACH_SETTINGS.includes(key))) continue;
      issues.push({ path: at(key), atKey: true, message: `${key} needs a matrix on step "${step.id}" (it configures a sweep)${FOREACH_SETTINGS.includes(key) ? ' or foreach' : ''}` });
    }
    return issues;
  }
  const names = Object.keys(step.matrix);
  if (names.length === 0) {
    issues.push({ path: at('matrix'), message: `step "${step.id}": the matrix is empty: expected at least one entry with a list of values` });
    return issues;
  }
  // An empty list is the schema's complaint (at the list); the expansion would only echo it.
  if (Object.values(step.matrix).some((values) => values.length === 0)) return issues;
  const size = matrixSize(step.matrix);
  if (size > MAX_SWEEP_TRIALS) {
    issues.push({ path: at('matrix'), message: `step "${step.id}": the matrix expands to ${size} trials: at most ${MAX_SWEEP_TRIALS} per step` });
    return issues;
  }
  (step.exclude ?? []).forEach((rule, ruleIndex) => {
    for (const [name, value] of Object.entries(rule)) {
      const values = step.matrix?.[name];
      if (values === undefined) {
        issues.push({ path: ['steps', index, 'exclude', ruleIndex, name], atKey: true, message: `exclude names unknown matrix entry "${name}" (matrix: ${names.join(', ')})` });
      } else if (!values.includes(value)) {
        issues.push({ path: ['steps', index, 'exclude', ruleIndex, name], message: `exclude: ${JSON.stringify(value)} is not a value of matrix entry "${name}" (${values.map((item) => JSON.stringify(item)).join(', ')})` });
      }
    }
  });
  if (issues.length > 0) return issues;
  const trials = expandMatrix(sweepMatrix(step.matrix), sweepExclude(step.exclude)).length;
  if (trials === 0) issues.push({ path: at('exclude'), message: `step "${step.id}": exclude leaves no trial of the matrix` });
  else if (step.minSuccess !== undefined && step.minSuccess > trials) {
    issues.push({ path: at('minSuccess'), message: `step "${step.id}": minSuccess ${step.minSuccess} exceeds the ${trials} trials of the matrix` });
  }
  return issues;
}

function isMatrixValue(value: unknown): value is MatrixValue {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** The matrix with only scalar values (the schema admits nothing else). */
export function sweepMatrix(matrix: Readonly<Record<string, readonly unknown[]>>): Record<string, MatrixValue[]> {
  return Object.fromEntries(Object.entries(matrix).map(([name, values]) => [name, values.filter(isMatrixValue)]));
}

export function sweepExclude(exclude: readonly Readonly<Record<string, unknown>>[] | undefined): Record<string, MatrixValue>[] {
  return (exclude ?? []).map((rule) => Object.fromEntries(Object.entries(rule).filter((entry): entry is [string, MatrixValue] => isMatrixValue(entry[1]))));
}


export function checkPipelineGraph(spec: GraphInput, ctx: z.RefinementCtx): void {
  for (const issue of graphIssues(spec)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message, params: SELF_DESCRIBING });
}

export function graphIssues(spec: GraphInput): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const indexById = new Map<string, number>();

  spec.steps.forEach((step, index) => {
    if (findStepKind(step.uses) === undefined) {
      issues.push({
        path: ['steps', index, 'uses'],
        message: `unknown step kind "${step.uses}" (known: ${STEP_KIND_NAMES.join(', ')})`,
      });
    }
    const first = indexById.get(step.id);
    if (first === undefined) indexById.set(step.id, index);
    else issues.push({ path: ['steps', index, 'id'], message: `duplicate step id "${step.id}" (first used by steps[${first}])` });
  });

  spec.steps.forEach((step, index) => issues.push(...sweepIssues(step, index)));

  spec.steps.forEach((step, index) => {
    step.needs.forEach((need, needIndex) => {
      if (!indexById.has(need)) {
        issues.push({ path: ['steps', index, 'needs', needIndex], message: `step "${step.id}" needs unknown step "${need}"` });
      }
    });
  });

  const cycles = findCycles(spec.steps, indexById);
  for (const cycle of cycles) {
    const start = indexById.get(cycle[0] ?? '') ?? 0;
    issues.push({ path: ['steps', start, 'needs'], message: `needs form a cycle: ${cycle.join(' -> ')}` });
  }
  if (cycles.length > 0) return issues;

  spec.steps.forEach((step, index) => {
    const upstream = transitiveNeeds(step.id, spec.steps, indexById);
    const found = referencesOrIssues(step.with, ['steps', index, 'with'], issues);
    const list = step.foreach === undefined ? undefined : foreachReference(step.foreach, ['steps', index, 'foreach'], issues);
    if (list !== undefined) found.push(list);
    for (const { path, reference } of found) {
      if (reference.kind === 'item') {
        if (step.foreach === undefined) {
          issues.push({ path, message: `${reference.raw}: step "${step.id}" has no foreach (items exist only in the with: of a step with foreach)` });
        }
        continue;
      }
      if (reference.kind === 'param') {
        if (!Object.hasOwn(spec.params, reference.name)) {
          const known = Object.keys(spec.params);
          issues.push({
            path,
            message: `${reference.raw} refers to unknown param "${reference.name}"${known.length > 0 ? ` (params: ${known.join(', ')})` : ''}`,
          });
        }
        continue;
      }
      if (reference.kind === 'matrix') {
        const names = Object.keys(step.matrix ?? {});
        if (step.matrix === undefined) {
          issues.push({ path, message: `${reference.raw}: step "${step.id}" has no matrix (matrix values exist only in the with: of a step with a matrix)` });
        } else if (!names.includes(reference.name)) {
          issues.push({ path, message: `${reference.raw} refers to unknown matrix entry "${reference.name}" (matrix: ${names.join(', ')})` });
        }
        continue;
      }
      const targetIndex = indexById.get(reference.stepId);
      if (targetIndex === undefined) {
        issues.push({ path, message: `${reference.raw} refers to unknown step "${reference.stepId}"` });
        continue;
      }
      if (!upstream.has(reference.stepId)) {
        issues.push({
          path,
          message: `${reference.raw} refers to step "${reference.stepId}", which step "${step.id}" does not need (add it to needs)`,
        });
        continue;
      }
      const target = spec.steps[targetIndex];
      const targetUses = target?.uses ?? '';
      if (target?.foreach !== undefined) {
        if (reference.output !== ITEMS_OUTPUT) {
          issues.push({ path, message: `${reference.raw}: step "${reference.stepId}" is a foreach step: its only output is ${ITEMS_OUTPUT} (one { status, outputs, error } per item)` });
        }
        continue;
      }
      if (target?.matrix !== undefined && reference.output === TRIALS_OUTPUT) continue;
      if (target?.matrix !== undefined && target.select !== undefined && reference.output === SELECTED_TRIAL_OUTPUT) {
        const [field, name, ...rest] = reference.field;
        const names = Object.keys(target.matrix);
        if (field !== undefined && !['index', 'matrix', 'metric'].includes(field)) {
          issues.push({ path, message: `${reference.raw}: ${SELECTED_TRIAL_OUTPUT} has index, matrix and metric, not "${field}"` });
        } else if (field === 'matrix' && name !== undefined && (!names.includes(name) || rest.length > 0)) {
          issues.push({ path, message: `${reference.raw}: step "${reference.stepId}" has no matrix entry "${[name, ...rest].join('.')}" (matrix: ${names.join(', ')})` });
        }
        continue;
      }
      if (target?.matrix !== undefined && target.select === undefined) {
        issues.push({
          path,
          message: `${reference.raw}: step "${reference.stepId}" is a sweep (matrix) without select, so it has no single "${reference.output}": add select: { metric, goal } to it, or use outputs.${TRIALS_OUTPUT}`,
        });
        continue;
      }
      const kind = findStepKind(targetUses);
      const fixed = kind === undefined ? undefined : outputNames(kind.output);
      const outputs = kind?.outputNamesOf?.(target?.with ?? {}) ?? fixed;
      if (outputs === undefined || outputs.includes(reference.output)) continue;
      if (kind?.outputNamesOf !== undefined) {
        const declared = outputs.filter((name) => !(fixed ?? []).includes(name));
        issues.push({
          path,
          message: `${reference.raw}: step "${reference.stepId}" (${targetUses}) declares no output "${reference.output}" (declared under with.outputs: ${declared.length > 0 ? declared.join(', ') : 'none'}; always: ${(fixed ?? []).join(', ')})`,
        });
      } else {
        issues.push({
          path,
          message: `${reference.raw}: step "${reference.stepId}" (${targetUses}) has no output "${reference.output}" (outputs: ${outputs.join(', ')})`,
        });
      }
    }
  });
  return issues;
}

/** References in a value; a malformed expression becomes an issue at its own string. */
function referencesOrIssues(value: unknown, path: ValuePath, issues: SpecIssue[]): FoundReference[] {
  if (typeof value === 'string') {
    try {
      return findReferences(value, path);
    } catch (error) {
      issues.push({ path, message: error instanceof Error ? error.message : String(error) });
      return [];
    }
  }
  if (Array.isArray(value)) return value.flatMap((item, index) => referencesOrIssues(item, [...path, index], issues));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([key, item]) => referencesOrIssues(item, [...path, key], issues));
  }
  return [];
}

/** Declared output names of a kind, when its output schema is an object (it always is here). */
export function outputNames(schema: z.ZodType): string[] | undefined {
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : undefined;
}

/** Every step id reachable through `needs` from `id` (not including `id`). */
export function transitiveNeeds(
  id: string,
  steps: GraphInput['steps'],
  indexById: ReadonlyMap<string, number>,
): Set<string> {
  const seen = new Set<string>();
  const stack = [...(steps[indexById.get(id) ?? -1]?.needs ?? [])];
  while (stack.length > 0) {
    const next = stack.pop();
    if (next === undefined || seen.has(next)) continue;
    seen.add(next);
    stack.push(...(steps[indexById.get(next) ?? -1]?.needs ?? []));
  }
  return seen;
}

/**
 * Cycles in the `needs` graph, each as a closed path (`a -> b -> a`), each reported once,
 * starting from its step that comes first in the file.
 */
function findCycles(steps: GraphInput['steps'], indexById: ReadonlyMap<string, number>): string[][] {
  const state = new Map<string, 'active' | 'done'>();
  const cycles: string[][] = [];
  const reported = new Set<string>();
  const stack: string[] = [];

  const visit = (id: string): void => {
    state.set(id, 'active');
    stack.push(id);
    for (const need of steps[indexById.get(id) ?? -1]?.needs ?? []) {
      if (!indexById.has(need)) continue;
      if (state.get(need) === 'active') {
        const members = stack.slice(stack.indexOf(need));
        const key = [...members].sort().join('\u0000');
        if (!reported.has(key)) {
          reported.add(key);
          const first = members.reduce((a, b) => ((indexById.get(a) ?? 0) <= (indexById.get(b) ?? 0) ? a : b));
          const at = members.indexOf(first);
          const rotated = [...members.slice(at), ...members.slice(0, at)];
          cycles.push([...rotated, first]);
        }
      } else if (state.get(need) === undefined) {
        visit(need);
      }
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const step of steps) if (state.get(step.id) === undefined) visit(step.id);
  return cycles;
}
