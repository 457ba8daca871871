#!/usr/bin/env -S npx tsx
import { Command } from 'commander';
import { reportCliError } from './output.ts';
import { register as registerServers } from './commands/servers.ts';
import { register as registerStack } from './commands/stack.ts';

/**
 * `mlp`: the project's command line. Each command lives in `client/commands/<name>.ts` and
 * exports `register(program)`, so this file only wires them together.
 */
const program = new Command()
  .name('mlp')
  .description('Durable, declarative ML pipelines on Temporal')
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });

registerServers(program);
registerStack(program);

await program.parseAsync(process.argv).catch(reportCliError);
