import { NON_RETRYABLE_ERROR_TYPES, PipelineSpecError } from '../errors.ts';
import { resolveParams } from '../expressions.ts';
import type { ResolvedPipeline, ResolvedStep, RetrySpec } from '../resolved-pipeline.ts';
import type { StepKind } from '../step-kind.ts';
import { findStepKind } from '../step-kinds/index.ts';
import { DEFAULT_MAX_PARALLEL } from '../scale-limits.ts';
import { capacityIssues } from './capacity.ts';
import { checkStepInput } from './input-check.ts';
import { checkSweepStep } from './sweep-check.ts';
import type { SpecIssue } from './issues.ts';
import type { ParamSpec, PipelineSpec } from './schema.ts';

/**
 * Turns a structurally valid spec plus `--set` overrides into what the workflow runs: params
 * substituted, defaults filled, each step's inputs checked against its kind. The spec hash is
 * added by the caller (hashing needs `node:crypto`, which this sandbox-safe module avoids).
 */

/** Built-in retry policy; `defaults.retry` and a step's `retry` override it field by field. */
export const BUILTIN_RETRY: RetrySpec = { maximumAttempts: 3, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' };

/** Start-to-close timeout of an attempt when neither the step nor `defaults` set one. */
export const BUILTIN_TIMEOUT = '10m';

export type UnhashedPipeline = Omit<ResolvedPipeline, 'specHash'>;

export interface ResolveResult {
  pipeline: UnhashedPipeline;
  issues: SpecIssue[];
}

/** Splits `--set name=value` arguments; throws PipelineSpecError for one without `=`. */
export function parseSetOptions(settings: readonly string[]): Map<string, string> {
  const result = new Map<string, string>();
  for (const setting of settings) {
    const at = setting.indexOf('=');
    if (at <= 0) throw new PipelineSpecError(`--set ${setting}: expected name=value`);
    result.set(setting.slice(0, at), setting.slice(at + 1));
  }
  return result;
}

function coerce(name: string, spec: ParamSpec, text: string): { value: unknown } | { expected: string } {
  switch (spec.type) {
    case 'string':
      return { value: text };
    case 'boolean':
      return text === 'true' || text === 'false' ? { value: text === 'true' } : { expected: 'a boolean (true or false)' };
    case 'integer':
      return /^-?\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? { value: Number(text) } : { expected: 'an integer' };
    case 'number': {
      const value = Number(text);
      return text.trim() !== '' && Number.isFinite(value) ? { value } : { expected: 'a number' };
    }
  }
}

/**
 * Param values: `--set` first, then defaults. Problems are reported at the param's definition
 * (or at `params` for an unknown name), so they carry a file position like every other issue.
 */
export function resolveParamValues(
  params: Readonly<Record<string, ParamSpec>>,
  overrides: ReadonlyMap<string, string>,
): { values: Record<string, unknown>; issues: SpecIssue[] } {
  const issues: SpecIssue[] = [];
  for (const [name, text] of overrides) {
    if (!Object.hasOwn(params, name)) {
      const known = Object.keys(params);
      issues.push({
        path: ['params'],
        message: `--set ${name}=${text}: unknown param "${name}" (params: ${known.length > 0 ? known.join(', ') : 'none'})`,
        atKey: true,
      });
    }
  }
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(params)) {
    const text = overrides.get(name);
    if (text !== undefined) {
      const coerced = coerce(name, spec, text);
      if ('value' in coerced) values[name] = coerced.value;
      else issues.push({ path: ['params', name], message: `--set ${name}=${text}: param "${name}" is ${coerced.expected}, got "${text}"`, atKey: true });
    } else if (spec.default !== undefined) {
      values[name] = spec.default;
    } else {
      issues.push({ path: ['params', name], message: `param "${name}" has no default: pass --set ${name}=<${spec.type}>`, atKey: true });
    }
  }
  return { values, issues };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mergeRetry(...layers: (Partial<RetrySpec> | undefined)[]): RetrySpec {
  const merged: RetrySpec = { ...BUILTIN_RETRY };
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer ?? {})) {
      if (value !== undefined) Object.assign(merged, { [key]: value });
    }
  }
  merged.nonRetryableErrorTypes = [...new Set([...NON_RETRYABLE_ERROR_TYPES, ...(merged.nonRetryableErrorTypes ?? [])])];
  return merged;
}

export function resolvePipeline(spec: PipelineSpec, overrides: ReadonlyMap<string, string>): ResolveResult {
  const { values: params, issues: paramIssues } = resolveParamValues(spec.params, overrides);
  if (paramIssues.length > 0) return { pipeline: { apiVersion: spec.apiVersion, name: spec.name, params, steps: [] }, issues: paramIssues };
  const kindsById = new Map<string, StepKind>();
  for (const step of spec.steps) {
    const kind = findStepKind(step.uses);
    if (kind !== undefined) kindsById.set(step.id, kind);
  }
  const issues: SpecIssue[] = [];
  const sweepSteps = new Set(spec.steps.filter((step) => step.matrix !== undefined).map((step) => step.id));
  const foreachSteps = new Set(spec.steps.filter((step) => step.foreach !== undefined).map((step) => step.id));
  const maxParallel = spec.maxParallel ?? DEFAULT_MAX_PARALLEL;
  const steps = spec.steps.map((step, index): ResolvedStep => {
    const kind = kindsById.get(step.id);
    if (kind === undefined) throw new PipelineSpecError(`unknown step kind "${step.uses}"`);
    const withParams = resolveParams(step.with, params);
    if (!isRecord(withParams)) throw new PipelineSpecError(`Cannot resolve params of step "${step.id}"`);
    // A sweep's `with` still holds `${{ matrix.* }}`: each trial's substituted inputs are checked instead.
    const sweep = step.matrix === undefined ? undefined : checkSweepStep(kind, step, withParams, kindsById, ['steps', index], sweepSteps, foreachSteps);
    const checked = checkStepInput(kind, withParams, kindsById, ['steps', index, 'with'], sweepSteps, foreachSteps);
    issues.push(...(sweep === undefined ? checked.issues : sweep.issues));
    const heartbeatTimeout = step.heartbeatTimeout ?? spec.defaults.heartbeatTimeout;
    const cacheRequested = step.cache ?? spec.defaults.cache ?? false;
    const cacheOffReason = cacheRequested ? kind.uncacheableReason?.(checked.value) : undefined;
    if (cacheOffReason !== undefined && step.cache === true) {
      issues.push({ path: ['steps', index, 'cache'], message: `cannot cache this ${kind.uses} step: ${cacheOffReason}` });
    }
    return {
      id: step.id,
      uses: step.uses,
      with: checked.value,
      needs: step.needs,
      queue: step.queue ?? spec.defaults.queue ?? kind.defaultQueue,
      retry: mergeRetry(spec.defaults.retry, step.retry),
      timeout: step.timeout ?? spec.defaults.timeout ?? BUILTIN_TIMEOUT,
      ...(heartbeatTimeout === undefined ? {} : { heartbeatTimeout }),
      cache: cacheRequested && cacheOffReason === undefined,
      ...(cacheOffReason === undefined ? {} : { cacheOffReason }),
      ...(sweep === undefined ? {} : { sweep: { ...sweep.sweep, maxParallel: Math.min(sweep.sweep.maxParallel, maxParallel) } }),
      ...(step.foreach === undefined
        ? {}
        : {
            foreach: {
              items: step.foreach.trim(),
              maxParallel: Math.min(step.maxParallel ?? maxParallel, maxParallel),
              ...(step.minSuccess === undefined ? {} : { minSuccess: step.minSuccess }),
            },
          }),
    };
  });
  const pipeline: UnhashedPipeline = {
    apiVersion: spec.apiVersion,
    name: spec.name,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    params,
    steps,
    ...(spec.maxParallel === undefined ? {} : { maxParallel: spec.maxParallel }),
    ...(spec.notify === undefined || spec.notify.length === 0 ? {} : { notify: spec.notify }),
    ...(spec.tracking === undefined ? {} : { tracking: spec.tracking }),
  };
  if (issues.length === 0) issues.push(...capacityIssues(pipeline));
  return { pipeline, issues };
}
