import { z } from 'zod';
import { findReferences, type FoundReference, type ValuePath } from '../expressions.ts';
import { SELF_DESCRIBING, type SpecIssue } from './issues.ts';
import { findStepKind, STEP_KIND_NAMES } from '../step-kinds/index.ts';

/**
 * Cross-field rules of a pipeline, run by zod once the structure is valid: known step kinds,
 * unique ids, existing `needs`, no cycles, and references that point at known params, known
 * steps the referencing step (transitively) needs, and outputs those steps' kinds declare.
 */

interface GraphInput {
  params: Record<string, unknown>;
  steps: { id: string; uses: string; needs: string[]; with: Record<string, unknown> }[];
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
    for (const { path, reference } of found) {
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
      const targetUses = spec.steps[targetIndex]?.uses ?? '';
      const kind = findStepKind(targetUses);
      const outputs = kind === undefined ? undefined : outputNames(kind.output);
      if (outputs !== undefined && !outputs.includes(reference.output)) {
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
