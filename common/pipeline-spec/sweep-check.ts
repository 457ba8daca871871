import { resolveMatrix, type ValuePath } from '../expressions.ts';
import type { StepKind } from '../step-kind.ts';
import { expandMatrix, formatTrialMatrix, type ResolvedSweep, type SweepSelect } from '../sweep.ts';
import { outputNames, sweepExclude, sweepMatrix } from './graph-rules.ts';
import { checkStepInput, jsonSchemaOf, schemasAt, typesOf } from './input-check.ts';
import type { SpecIssue } from './issues.ts';
import type { PipelineStep } from './schema.ts';

/**
 * Validation of a sweep step once params are substituted: every trial's `with` (matrix values
 * in place) against the kind's input schema, and `select.metric` against what the kind outputs.
 * The matrix's shape (empty, oversized, unknown names) was checked by the graph rules.
 */

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Why `metric` names nothing numeric the kind outputs, or `undefined` when it does. `input` (the
 * step's `with`) gives the output names of a kind whose outputs the step declares (run).
 */
export function selectMetricProblem(kind: StepKind, metric: string, input: Readonly<Record<string, unknown>> = {}): string | undefined {
  const path = metric.split('.');
  const numeric = (types: Set<string>): boolean => types.has('number') || types.has('integer') || types.has('any');
  const outputs = kind.outputNamesOf?.(input) ?? outputNames(kind.output) ?? [];
  const [name = ''] = path;
  // A name the step's outputs hold is judged by its type below; any other may be a metric the step's code reports.
  const anyMetricName = kind.metrics?.names.length === 0 && !outputs.includes(name);
  const schemas = schemasAt(jsonSchemaOf(kind.output, 'output'), path);
  if (schemas.length > 0 && numeric(typesOf(schemas)) && (kind.outputNamesOf === undefined || outputs.includes(name))) return undefined;
  if (path.length === 1 && (anyMetricName || kind.metrics?.names.includes(metric) === true)) return undefined;
  const numericOutputs = outputs.filter((output) => numeric(typesOf(schemasAt(jsonSchemaOf(kind.output, 'output'), [output]))));
  const reported =
    kind.metrics === undefined ? '' : `; metrics: ${kind.metrics.names.length === 0 ? `any name in ${kind.metrics.output}` : kind.metrics.names.join(', ')}`;
  const what = schemas.length > 0 ? `${kind.uses} output "${metric}" is not a number` : `${kind.uses} outputs no number "${metric}"`;
  return `${what} (numeric outputs: ${numericOutputs.length > 0 ? numericOutputs.join(', ') : 'none'}${reported})`;
}

export interface SweepCheckResult {
  sweep: ResolvedSweep;
  issues: SpecIssue[];
}

/**
 * Expands the matrix and checks each trial's inputs. An issue every trial has is reported once
 * as is; one only some trials have names the first of them (`trial #2: lr=5`).
 */
export function checkSweepStep(
  kind: StepKind,
  step: Pick<PipelineStep, 'id' | 'matrix' | 'exclude' | 'maxParallel' | 'select' | 'minSuccess'>,
  withParams: Record<string, unknown>,
  upstreamKinds: ReadonlyMap<string, StepKind>,
  at: ValuePath,
  sweepSteps: ReadonlySet<string>,
  foreachSteps: ReadonlySet<string> = new Set(),
): SweepCheckResult {
  const combinations = expandMatrix(sweepMatrix(step.matrix ?? {}), sweepExclude(step.exclude));
  const seen = new Map<string, { issue: SpecIssue; trials: number[] }>();
  combinations.forEach((matrix, index) => {
    const input = resolveMatrix(withParams, matrix);
    if (!isRecord(input)) return;
    for (const issue of checkStepInput(kind, input, upstreamKinds, [...at, 'with'], sweepSteps, foreachSteps).issues) {
      const key = `${JSON.stringify(issue.path)}\u0000${issue.message}`;
      const found = seen.get(key);
      if (found === undefined) seen.set(key, { issue, trials: [index] });
      else found.trials.push(index);
    }
  });
  const issues: SpecIssue[] = [...seen.values()].map(({ issue, trials }) => {
    const first = trials[0] ?? 0;
    return trials.length === combinations.length
      ? issue
      : { ...issue, message: `${issue.message} (in trial #${first}: ${formatTrialMatrix(combinations[first] ?? {})}${trials.length > 1 ? ` and ${trials.length - 1} more` : ''})` };
  });
  let select: SweepSelect | undefined;
  if (step.select !== undefined) {
    const problem = selectMetricProblem(kind, step.select.metric, withParams);
    if (problem !== undefined) issues.push({ path: [...at, 'select', 'metric'], message: `select.metric "${step.select.metric}": ${problem}` });
    select = { metric: step.select.metric, goal: step.select.goal };
  }
  return {
    sweep: {
      trials: combinations.map((matrix, index) => ({ index, matrix })),
      maxParallel: Math.min(step.maxParallel ?? combinations.length, combinations.length),
      ...(select === undefined ? {} : { select }),
      minSuccess: step.minSuccess ?? combinations.length,
    },
    issues,
  };
}
