import { PipelineSpecError } from '../errors.ts';
import type { ResolvedStep } from '../resolved-pipeline.ts';

/**
 * Execution levels of a DAG: level 0 needs nothing, level n needs only steps of lower levels,
 * so the steps of one level may run in parallel. Within a level, steps keep file order.
 * Assumes a validated, acyclic spec.
 */
export function executionLevels(steps: readonly Pick<ResolvedStep, 'id' | 'needs'>[]): string[][] {
  const levelById = new Map<string, number>();
  const levelOf = (id: string, seen: Set<string>): number => {
    const known = levelById.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) throw new PipelineSpecError(`Cannot order steps: cycle through "${id}"`);
    seen.add(id);
    const needs = steps.find((step) => step.id === id)?.needs ?? [];
    const level = needs.length === 0 ? 0 : 1 + Math.max(...needs.map((need) => levelOf(need, seen)));
    levelById.set(id, level);
    return level;
  };
  const levels: string[][] = [];
  for (const step of steps) {
    const level = levelOf(step.id, new Set());
    (levels[level] ??= []).push(step.id);
  }
  return levels;
}
