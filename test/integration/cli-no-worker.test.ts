import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

/**
 * Commands that run a helper workflow (`mlp gc`, `mlp models`, `mlp cache explain`) need a
 * worker; without one they wait for it. They must say so at once instead of hanging silently.
 */
describe('mlp commands that need a worker, with none running (real Temporal dev server)', function () {
  this.timeout(60_000);
  let servers: TestServers;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'noworker' });
  });

  after(async () => {
    await servers?.stop();
  });

  for (const command of [['gc'], ['models', 'list']]) {
    it(`mlp ${command.join(' ')} says it is waiting for a worker on its task queue`, async () => {
      const prefix = `noworker-${randomUUID().slice(0, 8)}`;
      const cli = spawn(
        process.execPath,
        ['--import', 'tsx', 'client/bin.ts', ...command, '--address', servers.temporalAddress, '--namespace', servers.namespace, '--task-queue-prefix', prefix],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      try {
        // The event, with a deadline: the warning line on stderr (the command itself keeps waiting).
        await new Promise<void>((resolve, reject) => {
          const deadline = setTimeout(() => reject(new Error(`no warning within 30 s; stderr so far: ${stderr}`)), 30_000);
          cli.stderr.on('data', (chunk: Buffer) => {
            stderr += chunk.toString('utf8');
            if (stderr.includes('\n')) {
              clearTimeout(deadline);
              resolve();
            }
          });
          cli.once('exit', (code) => {
            clearTimeout(deadline);
            reject(new Error(`mlp ${command.join(' ')} exited (${code}) without waiting; stderr: ${stderr}`));
          });
        });
        assert.match(stderr, new RegExp(`no worker polls task queue ${prefix}-cpu yet: waiting for one \\(start it with \`mlp worker\``));
      } finally {
        cli.kill('SIGTERM');
      }
    });
  }
});
