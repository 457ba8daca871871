import { isDeepStrictEqual } from 'node:util';
import { DatasetHashMismatchError } from '../../common/errors.ts';
import type { StepProgress } from '../../common/pipeline-progress.ts';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import type { StepOutputs } from '../../common/step-activities.ts';
import { findStepKind } from '../../common/step-kinds/index.ts';
import { specHashOf } from './pipeline-file.ts';
import type { RunView } from '../runs/run-view.ts';
import type { WatchRenderer } from '../runs/watch.ts';

/**
 * `mlp reproduce`: the recorded spec re-run under a new workflow id, with the step cache off so
 * every step really runs again (params, seed and pinned checksums are in the spec already), and
 * the outputs compared with the original's.
 */

/** The spec to re-run: caches off unless asked to keep them, spec hash recomputed. */
export function reproductionSpec(original: ResolvedPipeline, options: { useCache: boolean }): ResolvedPipeline {
  const { specHash: _old, ...rest } = original;
  const unhashed = { ...rest, steps: original.steps.map((step) => (options.useCache ? step : { ...step, cache: false })) };
  return { ...unhashed, specHash: specHashOf(unhashed) };
}

/** Dataset hashes the original run's steps produced (outputs named `datasetHash`), by step. */
export function datasetHashes(steps: readonly Pick<StepProgress, 'id' | 'outputs'>[]): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const step of steps) {
    const hash = step.outputs?.['datasetHash'];
    if (typeof hash === 'string') hashes.set(step.id, hash);
  }
  return hashes;
}

/**
 * Watches the new run and throws DatasetHashMismatchError as soon as a step reports a different
 * dataset hash than the original did: the inputs changed, so nothing after it can reproduce.
 */
export function datasetHashGuard(originalWorkflowId: string, expected: ReadonlyMap<string, string>, inner?: WatchRenderer): WatchRenderer {
  return {
    update(view) {
      inner?.update(view);
      for (const step of view.steps) {
        const want = expected.get(step.id);
        const got = step.outputs?.['datasetHash'];
        if (want !== undefined && typeof got === 'string' && got !== want) {
          throw new DatasetHashMismatchError(
            `Reproducing ${originalWorkflowId} failed: step "${step.id}" imported dataset ${got}, but the original run used ${want} (the source data changed)`,
          );
        }
      }
    },
    end(view, failure) {
      inner?.end(view, failure);
    },
  };
}

export interface StepComparison {
  step: string;
  /** identical: same outputs (object keys compared with the run's own prefix swapped). */
  result: 'identical' | 'different' | 'missing';
  /** Output names whose values differ. */
  differing?: string[];
}

/** Replaces the new run's workflow id in strings (object keys under runs/<id>/) by the original's. */
function normalize(value: unknown, from: string, to: string): unknown {
  if (typeof value === 'string') return value.split(from).join(to);
  if (Array.isArray(value)) return value.map((item) => normalize(item, from, to));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, normalize(item, from, to)]));
  }
  return value;
}

/** Drops the outputs a step kind marks as measurements of the run (timings, reuse counters). */
function withoutVolatile<T>(outputs: T, uses: string | undefined): T | StepOutputs {
  const volatile = new Set(uses === undefined ? [] : (findStepKind(uses)?.volatileOutputs ?? []));
  if (volatile.size === 0 || typeof outputs !== 'object' || outputs === null || Array.isArray(outputs)) return outputs;
  return Object.fromEntries(Object.entries(outputs).filter(([name]) => !volatile.has(name)));
}

export function compareOutputs(
  original: { workflowId: string; steps: readonly { id: string; uses?: string; outputs?: StepOutputs }[] },
  rerun: Pick<RunView, 'workflowId' | 'steps'>,
): StepComparison[] {
  const rerunOutputs = new Map(rerun.steps.map((step) => [step.id, step.outputs]));
  return original.steps
    .filter((step) => step.outputs !== undefined)
    .map((step): StepComparison => {
      const theirs = rerunOutputs.get(step.id);
      if (theirs === undefined || step.outputs === undefined) return { step: step.id, result: 'missing' };
      const mine = withoutVolatile(step.outputs, step.uses);
      const normalized = withoutVolatile(normalize(theirs, rerun.workflowId, original.workflowId), step.uses);
      if (isDeepStrictEqual(mine, normalized)) return { step: step.id, result: 'identical' };
      const other = typeof normalized === 'object' && normalized !== null ? Object.fromEntries(Object.entries(normalized)) : {};
      const names = new Set([...Object.keys(mine), ...Object.keys(other)]);
      return { step: step.id, result: 'different', differing: [...names].filter((name) => !isDeepStrictEqual(mine[name], other[name])) };
    });
}
