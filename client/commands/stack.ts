import type { Command } from 'commander';
import { parseStackConfig, stackPaths, type StackFlags } from '../stack/config.ts';
import { followLog, logTail } from '../stack/logs.ts';
import { stackDown, stackStatus, stackUp, type StackStatus } from '../stack/stack.ts';
import { info, printResult } from '../output.ts';

/** `mlp stack up | down | status | logs`: the local Temporal dev server and S3 server. */
export function register(program: Command): void {
  const stack = program
    .command('stack')
    .description('Run the local stack: Temporal dev server (SQLite, Web UI) and an S3 server, no Docker');

  const withCommon = (command: Command): Command =>
    command
      .option('--home <dir>', 'state folder: SQLite, S3 data, credentials, logs (env MLP_HOME, default .data/stack)')
      .option('--json', 'print the result as JSON');

  const withStart = (command: Command): Command =>
    command
      .option('--host <ip>', 'address the servers bind to (env MLP_STACK_HOST, default 127.0.0.1)')
      .option('--temporal-port <port>', 'Temporal gRPC port (env MLP_TEMPORAL_PORT, default 7233)')
      .option('--ui-port <port>', 'Temporal Web UI port (env MLP_TEMPORAL_UI_PORT, default 8233)')
      .option('--s3-port <port>', 'S3 port (env MLP_S3_PORT, default 9000)')
      .option('--s3-server <kind>', 'versitygw or minio (env MLP_S3_SERVER, default versitygw)')
      .option('--temporal-bin <path>', 'Temporal CLI binary (env MLP_TEMPORAL_BIN)')
      .option('--s3-server-bin <path>', 'S3 server binary (env MLP_S3_SERVER_BIN)')
      .option('--bucket <name>', 'bucket to create (env MLP_STACK_BUCKET, default ml-pipelines)');

  withStart(withCommon(stack.command('up')))
    .description('Start the servers that are not running and wait until both are healthy (idempotent)')
    .action(async (flags: StackFlags & { json?: boolean }) => {
      const result = await stackUp(parseStackConfig(flags), info);
      printResult(flags, result, () => `temporal: ${result.temporal}\ns3: ${result.s3}\n${formatStatus(result.status)}`);
    });

  withStart(withCommon(stack.command('down')))
    .description('Stop the servers this stack started (and nothing else); data stays in the home folder')
    .action(async (flags: StackFlags & { json?: boolean }) => {
      const result = await stackDown(parseStackConfig(flags));
      printResult(flags, result, () => `temporal: ${result.temporal}\ns3: ${result.s3}`);
    });

  withStart(withCommon(stack.command('status')))
    .description('Report the health of each server and where the Web UI is; exit code 1 unless all are healthy')
    .action(async (flags: StackFlags & { json?: boolean }) => {
      const status = await stackStatus(parseStackConfig(flags));
      printResult(flags, status, () => formatStatus(status));
      if (!status.healthy) process.exitCode = 1;
    });

  withStart(withCommon(stack.command('logs')))
    .description('Print the servers\' logs')
    .argument('[server]', 'temporal or s3 (default both)')
    .option('-n, --lines <count>', 'lines from the end of each log', '50')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .action(async (server: string | undefined, flags: StackFlags & { lines: string; follow?: boolean }) => {
      const paths = stackPaths(parseStackConfig(flags).home);
      const files = { temporal: paths.temporalLog, s3: paths.s3Log };
      const chosen = Object.entries(files).filter(([name]) => server === undefined || server === name);
      if (chosen.length === 0) throw new Error(`Unknown server "${server}" for stack logs: use temporal or s3`);
      const lines = Number.parseInt(flags.lines, 10) || 50;
      for (const [name, file] of chosen) process.stdout.write(`==> ${name}: ${file} <==\n${logTail(file, lines)}\n`);
      if (!flags.follow) return;
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      await Promise.all(chosen.map(([name, file]) => followLog(file, (text) => process.stdout.write(prefixLines(name, text)), stop.signal)));
    });
}

function prefixLines(name: string, text: string): string {
  return text.replace(/^(?=.)/gm, `${name} | `);
}

function mark(ok: boolean): string {
  return ok ? 'healthy' : 'DOWN';
}

function formatStatus(status: StackStatus): string {
  const t = status.temporal;
  const s = status.s3;
  return [
    `home:     ${status.home}`,
    `temporal: ${mark(t.healthy)}  ${t.address} namespace=${t.namespace}${t.pid ? ` pid=${t.pid}` : ''}`,
    `web ui:   ${mark(t.uiHealthy)}  ${t.uiUrl}`,
    `s3:       ${mark(s.healthy)}  ${s.endpoint} (${s.kind}) bucket=${s.bucket}${s.pid ? ` pid=${s.pid}` : ''}`,
    `          access key ${s.accessKeyId ?? '-'}, secret ${s.secretAccessKey ?? '-'} (full values in ${status.home}/credentials.json)`,
  ].join('\n');
}
