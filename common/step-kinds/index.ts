import type { StepKind } from '../step-kind.ts';
import { downloadStep } from './download.ts';
import { evaluateStep } from './evaluate.ts';
import { noopStep } from './noop.ts';
import { publishStep } from './publish.ts';
import { runStep } from './run.ts';
import { subsetStep } from './subset.ts';
import { trainStep } from './train.ts';

export * from './noop.ts';
export * from './download.ts';
export * from './subset.ts';
export * from './train.ts';
export * from './evaluate.ts';
export * from './publish.ts';
export * from './run.ts';

/** Every step kind a pipeline may name in `uses:`, in documentation order. */
export const STEP_KINDS = [noopStep, downloadStep, subsetStep, trainStep, evaluateStep, publishStep, runStep] as const;

export type StepKindName = (typeof STEP_KINDS)[number]['uses'];

const byName: ReadonlyMap<string, StepKind> = new Map(STEP_KINDS.map((kind) => [kind.uses, kind]));

/** Registered names, sorted (for error messages). */
export const STEP_KIND_NAMES: readonly string[] = [...byName.keys()].sort();

/** The step kind registered under `uses`, or `undefined`. */
export function findStepKind(uses: string): StepKind | undefined {
  return byName.get(uses);
}
