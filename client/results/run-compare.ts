import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { ClientConfig } from '../config.ts';
import { canonicalJson } from '../../common/canonical-json.ts';
import { loadRun, type LoadedRun } from './run-results.ts';
import { fetchObjects } from './stored-objects.ts';

/**
 * `mlp compare`: the params that differ between runs and their metrics side by side, each with
 * its difference from the first run given; for the HTML page, each run's training curves and ROC
 * curve, read from the objects its steps wrote.
 */

export interface ComparedRun {
  workflowId: string;
  runId: string;
  pipeline: string;
  status: string;
  startedAt: string;
}

export interface ParamRow {
  name: string;
  /** One per run; `null` where the run has no such param. */
  values: unknown[];
  differs: boolean;
}

export interface MetricRow {
  /** `<step>.<metric>`, e.g. `evaluate.auc` or `train.valLoss`. */
  name: string;
  values: (number | null)[];
  /** value − the first run's value, per run (the first run's is 0). */
  deltas: (number | null)[];
}

export interface RunComparison {
  runs: ComparedRun[];
  params: ParamRow[];
  /** Names of the params whose values differ. */
  differingParams: string[];
  metrics: MetricRow[];
}

/** Output records of headline numbers: evaluate's and a run step's `metrics`, train's `finalMetrics`. */
const METRIC_OUTPUTS = ['metrics', 'finalMetrics'];
const numbers = z.record(z.string(), z.number());

/** `<step>.<metric>` → value, in step order. */
export function runMetrics(run: LoadedRun): Map<string, number> {
  const metrics = new Map<string, number>();
  for (const step of run.view.steps) {
    for (const output of METRIC_OUTPUTS) {
      const parsed = numbers.safeParse(step.outputs?.[output]);
      if (parsed.success) for (const [name, value] of Object.entries(parsed.data)) metrics.set(`${step.id}.${name}`, value);
    }
  }
  return metrics;
}

export function compareRuns(runs: readonly LoadedRun[]): RunComparison {
  const paramNames = [...new Set(runs.flatMap((run) => Object.keys(run.start.spec.params)))];
  const params = paramNames.map((name): ParamRow => {
    const values = runs.map((run) => (Object.hasOwn(run.start.spec.params, name) ? run.start.spec.params[name] : null));
    const differs = new Set(values.map((value) => canonicalJson(value ?? null))).size > 1;
    return { name, values, differs };
  });
  const perRun = runs.map(runMetrics);
  const metricNames = [...new Set(perRun.flatMap((metrics) => [...metrics.keys()]))];
  const metrics = metricNames.map((name): MetricRow => {
    const values = perRun.map((metrics) => metrics.get(name) ?? null);
    const base = values[0] ?? null;
    return { name, values, deltas: values.map((value) => (value === null || base === null ? null : value - base)) };
  });
  return {
    runs: runs.map(({ view }) => ({ workflowId: view.workflowId, runId: view.runId, pipeline: view.pipeline, status: view.status, startedAt: view.startedAt })),
    params,
    differingParams: params.filter((row) => row.differs).map((row) => row.name),
    metrics,
  };
}

const epochSchema = z.object({ epoch: z.number(), loss: z.number().optional(), valLoss: z.number().optional(), accuracy: z.number().optional(), valAccuracy: z.number().optional() }).loose();
const historySchema = z.union([z.array(epochSchema), z.object({ history: z.array(epochSchema) }).loose().transform((value) => value.history)]);
const rocSchema = z.object({ roc: z.array(z.object({ fpr: z.number(), tpr: z.number() }).loose()) }).loose();
export type EpochLog = z.infer<typeof epochSchema>;

/** What a run's curves are drawn from: its first train step's history, its first evaluate step's ROC. */
export interface RunCurves {
  workflowId: string;
  epochs?: EpochLog[];
  roc?: { fpr: number; tpr: number }[];
  auc?: number;
}

function firstOutput(run: LoadedRun, uses: string, output: string): string | undefined {
  for (const step of run.view.steps) {
    const value = step.outputs?.[output];
    if (step.uses === uses && typeof value === 'string') return value;
  }
  return undefined;
}

/** Reads the history and metrics.json of every run through the worker in one request. */
export async function loadRunCurves(client: Client, config: ClientConfig, runs: readonly LoadedRun[]): Promise<RunCurves[]> {
  const keys = runs.map((run) => ({ history: firstOutput(run, 'train', 'history'), metrics: firstOutput(run, 'evaluate', 'metricsKey') }));
  const objects = await fetchObjects(client, config, keys.flatMap(({ history, metrics }) => [history, metrics].filter((key) => key !== undefined)));
  const json = (key: string | undefined): unknown => {
    const bytes = key === undefined ? undefined : objects.get(key);
    if (bytes === undefined) return undefined;
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch {
      return undefined;
    }
  };
  return runs.map((run, index) => {
    const history = historySchema.safeParse(json(keys[index]?.history));
    const roc = rocSchema.safeParse(json(keys[index]?.metrics));
    const auc = runMetrics(run).get(`${run.view.steps.find((step) => step.uses === 'evaluate')?.id ?? 'evaluate'}.auc`);
    return {
      workflowId: run.view.workflowId,
      ...(history.success ? { epochs: history.data } : {}),
      ...(roc.success ? { roc: roc.data.roc } : {}),
      ...(auc === undefined ? {} : { auc }),
    };
  });
}

/** Loads each run (the latest run of each workflow id). */
export async function loadRuns(client: Client, workflowIds: readonly string[]): Promise<LoadedRun[]> {
  return Promise.all(workflowIds.map((workflowId) => loadRun(client, workflowId)));
}
