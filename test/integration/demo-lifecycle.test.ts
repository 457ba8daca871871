import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { PROJECT_ROOT } from '../../client/servers/binaries.ts';
import { freePort, isRunning } from '../../client/servers/launch.ts';
import { parseStackConfig } from '../../client/stack/config.ts';
import { stackDown } from '../../client/stack/stack.ts';
import { waitUntil } from '../helpers/wait-until.ts';

/** A pipeline whose one step runs for minutes, so a test can stop the demo in the middle of it. */
const LONG_PIPELINE = `apiVersion: mlp/v1
name: lifecycle-demo
steps:
  - id: work
    uses: noop
    cache: false
    with:
      sleepMs: 600000
`;

interface DemoProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `mlp demo` as users start it, on its own stack in a temp MLP_HOME with free ports: the demo's
 * workers must not outlive it, however it stops (issue: workers orphaned after SIGKILL or
 * `timeout`), and a stop request leaves the run resumable.
 */
describe('the demo stops everything it started when it stops', function () {
  this.timeout(180_000);
  let home: string;
  let env: NodeJS.ProcessEnv;
  let pipelineFile: string;
  let temporalAddress: string;
  const started: DemoProcess[] = [];

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'mlp-demo-life-'));
    pipelineFile = join(home, 'long.yaml');
    writeFileSync(pipelineFile, LONG_PIPELINE);
    const [temporalPort, uiPort, s3Port] = [await freePort(), await freePort(), await freePort()];
    temporalAddress = `127.0.0.1:${temporalPort}`;
    env = {
      ...process.env,
      MLP_HOME: home,
      MLP_TEMPORAL_PORT: String(temporalPort),
      MLP_TEMPORAL_UI_PORT: String(uiPort),
      MLP_S3_PORT: String(s3Port),
      // The running noop step is cancelled after this grace; Temporal retries it later.
      MLP_SHUTDOWN_GRACE_TIME: '2s',
    };
  });

  after(async () => {
    for (const demo of started) if (demo.child.exitCode === null && demo.child.signalCode === null) demo.child.kill('SIGKILL');
    await stackDown(parseStackConfig({ home }, {}));
    rmSync(home, { recursive: true, force: true });
  });

  function startDemo(command: string, args: string[]): DemoProcess {
    const child = spawn(command, args, { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', (line) => output.push(line));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const demo = { child, output, exited };
    started.push(demo);
    return demo;
  }

  const printed = (demo: DemoProcess, pattern: RegExp, timeoutMs = 120_000): Promise<RegExpMatchArray> =>
    waitUntil(
      `the demo to print ${pattern}`,
      async () => {
        if (demo.child.exitCode !== null) throw new Error(`The demo exited with ${demo.child.exitCode}:\n${demo.output.join('\n')}`);
        for (const line of demo.output) {
          const match = pattern.exec(line);
          if (match) return match;
        }
        return undefined;
      },
      { timeoutMs },
    );

  const workerPids = async (demo: DemoProcess): Promise<number[]> => {
    const match = await printed(demo, /worker pids (\d+), (\d+)/);
    return [Number(match[1]), Number(match[2])];
  };

  it('SIGKILL of the demo right after its workers start: both workers are gone within 2 s', async () => {
    const demo = startDemo(process.execPath, ['--import', 'tsx', 'client/bin.ts', 'demo', '--pipeline', pipelineFile]);
    const pids = await workerPids(demo);
    assert.ok(pids.every(isRunning), 'both workers run before the demo is killed');
    // While they are still starting: the case that left them running forever.
    demo.child.kill('SIGKILL');
    await demo.exited;
    const killedAt = Date.now();
    await waitUntil('both demo workers to exit', async () => (pids.some(isRunning) ? undefined : true), { timeoutMs: 2_000, intervalMs: 50 });
    assert.ok(Date.now() - killedAt <= 2_000);
  });

  it('SIGTERM to `npm run demo` mid-step: it exits 143 within the grace period, its workers gone, the run left open to resume', async () => {
    const demo = startDemo('npm', ['run', '--silent', 'demo', '--', '--pipeline', pipelineFile]);
    const pids = await workerPids(demo);
    const [, workflowId] = await printed(demo, /4\/4 run: (\S+)/);
    await printed(demo, /^\s+work\s+running/);

    demo.child.kill('SIGTERM');
    const stoppedAt = Date.now();
    const exit = await demo.exited;
    // The workers' grace (2 s) plus their shutdown; well under what `timeout -k` or systemd allow.
    assert.ok(Date.now() - stoppedAt < 15_000, `the demo took ${Date.now() - stoppedAt} ms to stop`);
    assert.equal(exit.code, 143, demo.output.join('\n'));
    assert.ok(
      demo.output.some((line) => line.includes(`Stopped by SIGTERM`) && line.includes(`run ${workflowId} stays open`)),
      `one line says what stopped and how to resume:\n${demo.output.join('\n')}`,
    );
    assert.deepEqual(pids.filter(isRunning), [], 'no worker of the demo is left');

    const connection = await Connection.connect({ address: temporalAddress });
    try {
      const description = await new Client({ connection }).workflow.getHandle(workflowId ?? '').describe();
      assert.equal(description.status.name, 'RUNNING', 'the run waits for a worker to resume it');
    } finally {
      await connection.close();
    }
  });
});
