import type { Command } from 'commander';
import { installServers, type InstallEvent } from '../servers/install.ts';
import { resolveS3Binary, resolveTemporalBinary, s3ServerKind, type ResolvedBinary } from '../servers/binaries.ts';
import { info, printResult } from '../output.ts';

/** `mlp servers install | which`: build or locate the Temporal CLI and the S3 server. */
export function register(program: Command): void {
  const servers = program.command('servers').description('Build or locate the Temporal dev server and the S3 server binaries');

  servers
    .command('install')
    .description('Build the pinned Temporal CLI and versitygw with `go install` into .tools/bin (skipped when present)')
    .option('--force', 'rebuild even when the right version is present')
    .option('--json', 'print the result as JSON')
    .action(async (options: { force?: boolean; json?: boolean }) => {
      const started = Date.now();
      const results = await installServers({ force: options.force, onEvent: showProgress });
      const seconds = (Date.now() - started) / 1000;
      printResult(options, { seconds, servers: results }, () =>
        [
          ...results.map((r) => `${r.tool.padEnd(10)} ${r.status.padEnd(8)} ${r.version.padEnd(22)} ${r.path}${r.status === 'built' ? ` (${r.seconds.toFixed(0)}s)` : ''}`),
          `servers ready in ${seconds.toFixed(1)}s`,
        ].join('\n'),
      );
    });

  servers
    .command('which')
    .description('Show which binaries the stack and the tests use, and their versions')
    .option('--temporal-bin <path>', 'Temporal CLI binary (env MLP_TEMPORAL_BIN)')
    .option('--s3-server <kind>', 'versitygw or minio (env MLP_S3_SERVER)')
    .option('--s3-server-bin <path>', 'S3 server binary (env MLP_S3_SERVER_BIN)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { temporalBin?: string; s3Server?: string; s3ServerBin?: string; json?: boolean }) => {
      const kind = s3ServerKind(options.s3Server);
      const found: Record<string, ResolvedBinary> = {
        temporal: await resolveTemporalBinary({ explicit: options.temporalBin }),
        [kind]: await resolveS3Binary(kind, { explicit: options.s3ServerBin }),
      };
      printResult(options, found, () =>
        Object.entries(found).map(([name, b]) => `${name.padEnd(10)} ${b.version.padEnd(22)} ${b.path} (from ${b.source})`).join('\n'),
      );
    });
}

function showProgress(event: InstallEvent): void {
  switch (event.type) {
    case 'start':
      info(`building ${event.tool} ${event.version} with go install (first build takes minutes; Go caches make later ones fast)`);
      break;
    case 'output':
      info(`  ${event.tool}: ${event.line}`);
      break;
    case 'tick':
      info(`  ${event.tool}: still building… ${event.elapsedS}s`);
      break;
    case 'done':
      info(`built ${event.tool} in ${event.elapsedS}s`);
      break;
  }
}
