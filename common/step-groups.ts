import { STEP_GROUP_SIZE, STEP_GROUP_THRESHOLD } from './scale-limits.ts';

/**
 * How a run's steps are scheduled: one by one, or, where many steps have the same `needs` (so
 * they always become ready together: a wide fan-out), in groups that each run as one
 * `runStepGroup` child workflow. Sandbox-safe and deterministic: the workflow groups with it,
 * `mlp validate` and `mlp plan` estimate the run's history with it.
 */

export interface GroupableStep {
  id: string;
  needs: readonly string[];
  /** Sweeps and foreach steps run their own fan-out: never grouped. */
  sweep?: unknown;
  foreach?: unknown;
}

/** One node of the run's DAG: a step, or a group of steps that share their `needs`. */
export interface StepUnit {
  /** The step id; for a group `group:<first step id>+<count>` (`:` is never in a step id). */
  id: string;
  steps: string[];
  /** Units this one waits for. */
  needs: string[];
  group: boolean;
  /** Groups made of the same set of steps (sharing their needs, so ready together), this one included. */
  siblings: number;
}

/**
 * The units of `steps`, in file order of their first step. Steps sharing the exact same `needs`
 * are grouped when there are more than `threshold` of them (sweeps and foreach steps excepted),
 * `size` per group in file order; a step needing any member of a group waits for the group.
 * With no such set every unit is one step with its own needs: the schedule of small pipelines
 * stays exactly what it was.
 */
export function planStepUnits(steps: readonly GroupableStep[], threshold = STEP_GROUP_THRESHOLD, size = STEP_GROUP_SIZE): StepUnit[] {
  const bySignature = new Map<string, GroupableStep[]>();
  const signature = (step: GroupableStep): string => [...step.needs].sort().join('\u0000');
  for (const step of steps) {
    if (step.sweep !== undefined || step.foreach !== undefined) continue;
    const key = signature(step);
    bySignature.set(key, [...(bySignature.get(key) ?? []), step]);
  }
  const unitOf = new Map<string, string>();
  const groups = new Map<string, { steps: string[]; siblings: number }>();
  for (const members of bySignature.values()) {
    if (members.length <= threshold) continue;
    const siblings = Math.ceil(members.length / size);
    for (let start = 0; start < members.length; start += size) {
      const chunk = members.slice(start, start + size).map((step) => step.id);
      const id = `group:${chunk[0] ?? ''}+${chunk.length}`;
      groups.set(id, { steps: chunk, siblings });
      for (const member of chunk) unitOf.set(member, id);
    }
  }
  const units: StepUnit[] = [];
  const emitted = new Set<string>();
  for (const step of steps) {
    const id = unitOf.get(step.id) ?? step.id;
    if (emitted.has(id)) continue;
    emitted.add(id);
    const group = groups.get(id);
    const needs = [...new Set(step.needs.map((need) => unitOf.get(need) ?? need))];
    units.push({ id, steps: group?.steps ?? [step.id], needs, group: group !== undefined, siblings: group?.siblings ?? 1 });
  }
  return units;
}

/**
 * How many items each child workflow of a fan-out runs at once, within `maxParallel` for the
 * whole fan-out: a share, so that several children run side by side (one starting or ending
 * never leaves the bound idle), never more than a child has items.
 */
export function childParallelism(maxParallel: number, itemsPerChild: number, concurrentChildren: number): number {
  return Math.max(1, Math.min(itemsPerChild, Math.ceil(maxParallel / concurrentChildren)));
}
