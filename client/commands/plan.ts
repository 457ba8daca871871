import type { Command } from 'commander';
import { printResult } from '../output.ts';
import { formatPlan, planPipeline } from '../pipelines/plan.ts';
import { loadOrReport, withPipelineFileOptions, type PipelineFileFlags } from './pipeline-options.ts';

/** `mlp plan <file>`: the resolved DAG, its order, queues and the static cache-key inputs. */
export function register(program: Command): void {
  withPipelineFileOptions(program.command('plan <file>'))
    .description('Show the resolved pipeline: execution order and levels, queues, retries, cache keys')
    .action(async (file: string, flags: PipelineFileFlags) => {
      const loaded = await loadOrReport(file, flags);
      if (loaded === undefined) return;
      const plan = planPipeline(loaded.resolved, loaded.spec.schedule, loaded.code);
      printResult(flags, plan, () => formatPlan(plan));
    });
}
