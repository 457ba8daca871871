import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { z } from 'zod';
import {
  MODEL_WORKFLOWS,
  ModelDescriptionSchema,
  ModelSummarySchema,
  PromoteResultSchema,
  type ModelDescription,
  type PromoteRequest,
} from '../../common/model-registry.ts';
import { workflowTaskQueue } from '../../common/task-queues.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { reportHelperWorkflowFailure } from '../runs/failure.ts';
import { printResult } from '../output.ts';
import { warnWhenNoWorker } from '../runs/task-queue-pollers.ts';

interface ModelsFlags extends ConnectionFlags {
  json?: boolean;
}

/**
 * Runs one registry workflow (workflows/models.ts) on the cpu worker and parses its result. The
 * CLI holds no storage credentials: the worker reads and writes the registry.
 */
async function runRegistryWorkflow<T>(flags: ModelsFlags, workflow: string, idPart: string, args: unknown[], schema: z.ZodType<T>): Promise<T | undefined> {
  const { client, config, close } = await connectClient(flags);
  try {
    await warnWhenNoWorker(client, workflowTaskQueue(config.taskQueuePrefix));
    const result: unknown = await client.workflow.execute(workflow, {
      taskQueue: workflowTaskQueue(config.taskQueuePrefix),
      workflowId: `models-${idPart}-${randomUUID().slice(0, 8)}`,
      args,
    });
    return schema.parse(result);
  } catch (error) {
    reportHelperWorkflowFailure(error);
    return undefined;
  } finally {
    await close();
  }
}

function formatMetrics(metrics: Record<string, number>): string {
  return Object.entries(metrics)
    .map(([name, value]) => `${name}=${Number(value.toFixed(4))}`)
    .join(' ');
}

function formatDescription(d: ModelDescription): string {
  const alias = (a: ModelDescription['aliases']['latest']) => (a ? `v${a.version} (${a.updatedAt}: ${a.reason})` : '—');
  const lines = [`model ${d.name}`, `  latest:     ${alias(d.aliases.latest)}`, `  production: ${alias(d.aliases.production)}`, '  versions:'];
  for (const v of d.versions) lines.push(`    v${v.version}  ${v.createdAt}  ${formatMetrics(v.metrics)}  ${v.reason}  (run ${v.workflowId})`);
  if (d.record) {
    const r = d.record;
    lines.push(
      `version ${r.version}`,
      `  model:    s3://${r.model}`,
      `  metrics:  ${formatMetrics(r.metrics)}`,
      `  decision: ${r.decision.reason}`,
      ...(r.report ? [`  report:   ${r.report}`] : []),
      '  lineage:',
      ...Object.entries(r.lineage).map(([key, value]) => `    ${key}: ${String(value)}`),
    );
  }
  return lines.join('\n');
}

function parseVersion(value: string): number {
  const version = Number(value);
  if (!Number.isInteger(version) || version < 1) throw new Error(`Version must be a positive integer, got '${value}'`);
  return version;
}

/** `mlp models list | show <name> [version] | promote <name> <version>`: the model registry. */
export function register(program: Command): void {
  const models = program.command('models').description('Model registry: list models, show versions and lineage, promote a version to production');

  withConnectionOptions(models.command('list'))
    .description('List registered models with their version count and aliases')
    .option('--json', 'print JSON')
    .action(async (flags: ModelsFlags) => {
      const list = await runRegistryWorkflow(flags, MODEL_WORKFLOWS.list, 'list', [], z.array(ModelSummarySchema));
      if (list === undefined) return;
      printResult(flags, list, () =>
        list.length === 0
          ? 'no models registered'
          : list.map((m) => `${m.name}  versions=${m.versions}  latest=${m.latest ?? '—'}  production=${m.production ?? '—'}`).join('\n'),
      );
    });

  withConnectionOptions(models.command('show <name> [version]'))
    .description("Show a model's aliases and versions; with a version, its metrics, gate decision and lineage")
    .option('--json', 'print JSON')
    .action(async (name: string, version: string | undefined, flags: ModelsFlags) => {
      const request = { name, ...(version === undefined ? {} : { version: parseVersion(version) }) };
      const description = await runRegistryWorkflow(flags, MODEL_WORKFLOWS.describe, `show-${name}`, [request], ModelDescriptionSchema);
      if (description === undefined) return;
      printResult(flags, description, () => formatDescription(description));
    });

  withConnectionOptions(models.command('promote <name> <version>'))
    .description('Point the production alias at a version (by hand: no gate); recorded as a workflow in Temporal')
    .option('--reason <text>', 'why, recorded in the alias', 'promoted by hand with mlp models promote')
    .option('--json', 'print JSON')
    .action(async (name: string, version: string, flags: ModelsFlags & { reason: string }) => {
      const request: PromoteRequest = { name, version: parseVersion(version), reason: flags.reason };
      const result = await runRegistryWorkflow(flags, MODEL_WORKFLOWS.promote, `promote-${name}-v${request.version}`, [request], PromoteResultSchema);
      if (result === undefined) return;
      printResult(flags, result, () => `${result.name}: production → v${result.version} (was ${result.previousVersion === null ? 'unset' : `v${result.previousVersion}`})`);
    });
}
