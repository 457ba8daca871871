#!/usr/bin/env -S npx tsx
import { Command } from 'commander';
import { reportCliError } from './output.ts';
import { register as registerServers } from './commands/servers.ts';
import { register as registerStack } from './commands/stack.ts';
import { register as registerValidate } from './commands/validate.ts';
import { register as registerPlan } from './commands/plan.ts';
import { register as registerRun } from './commands/run.ts';
import { register as registerSchema } from './commands/schema.ts';
import { register as registerWorker } from './commands/worker.ts';
import { register as registerModels } from './commands/models.ts';
import { register as registerWatch } from './commands/watch.ts';
import { register as registerList } from './commands/list.ts';
import { register as registerShow } from './commands/show.ts';
import { register as registerLogs } from './commands/logs.ts';
import { register as registerCancel } from './commands/cancel.ts';
import { register as registerReproduce } from './commands/reproduce.ts';
import { register as registerRerun } from './commands/rerun.ts';
import { register as registerGc } from './commands/gc.ts';
import { register as registerCache } from './commands/cache.ts';
import { register as registerSchedule } from './commands/schedule.ts';
import { register as registerDemo } from './commands/demo.ts';
import { register as registerVersion } from './commands/version.ts';
import { register as registerArtifacts } from './commands/artifacts.ts';
import { register as registerReport } from './commands/report.ts';
import { register as registerCompare } from './commands/compare.ts';
import { register as registerDeploy } from './commands/deploy.ts';

/**
 * `mlp`: the project's command line. Each command lives in `client/commands/<name>.ts` and
 * exports `register(program)`, so this file only wires them together.
 */
const program = new Command()
  .name('mlp')
  .description('Durable, declarative ML pipelines on Temporal')
  .showHelpAfterError()
  // Usage errors throw instead of exiting, so reportCliError can give them exit code 2.
  // Subcommands inherit this (they are added after it).
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text) });

registerVersion(program);
registerServers(program);
registerStack(program);
registerValidate(program);
registerPlan(program);
registerRun(program);
registerSchema(program);
registerWorker(program);
registerDeploy(program);
registerModels(program);
registerWatch(program);
registerList(program);
registerShow(program);
registerLogs(program);
registerArtifacts(program);
registerReport(program);
registerCompare(program);
registerCancel(program);
registerReproduce(program);
registerRerun(program);
registerGc(program);
registerCache(program);
registerSchedule(program);
registerDemo(program);

await program.parseAsync(process.argv).catch(reportCliError);
