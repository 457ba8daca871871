import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { listingSha256 } from '../../activities/content-hash.ts';
import { startCommand } from '../../activities/run/command-process.ts';
import { readMetricsFile } from '../../activities/run/metrics-file.ts';
import { parseProgressLine } from '../../activities/run/progress-line.ts';
import { isRunning } from '../../client/servers/launch.ts';
import { RunContractError } from '../../common/errors.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const env = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, LANG: 'C.UTF-8' };

describe('run step parts: the command process, progress lines, metrics, folder hashes', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mlp-run-unit-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('passes stdout and stderr lines on and reports the exit code', async () => {
    const lines: string[] = [];
    const command = await startCommand({
      command: 'node',
      args: ['-e', 'console.log("one"); console.error("two"); process.exit(3)'],
      cwd: dir,
      env,
      graceMs: 1000,
      onLine: (line, stream) => lines.push(`${stream}:${line}`),
    });
    assert.deepEqual(await command.exited, { code: 3, signal: null });
    assert.deepEqual(lines.sort(), ['stderr:two', 'stdout:one']);
  });

  it('names a program that does not exist in a RunContractError', async () => {
    await assert.rejects(startCommand({ command: 'no-such-program-mlp', args: [], cwd: dir, env, graceMs: 0, onLine: () => {} }), (error: unknown) => {
      assert.ok(error instanceof RunContractError);
      assert.match(error.message, /^Command "no-such-program-mlp" not found \(looked up on PATH=/);
      return true;
    });
  });

  it('stop() ends the whole group: SIGTERM, then SIGKILL after the grace period for a command and grandchild that ignore SIGTERM', async () => {
    const pids = join(dir, 'pids');
    writeFileSync(
      join(dir, 'tree.mjs'),
      [
        "import { spawn } from 'node:child_process';",
        "import { writeFileSync } from 'node:fs';",
        "const grandchild = spawn(process.execPath, ['-e', \"process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)\"], { stdio: 'ignore' });",
        `writeFileSync(${JSON.stringify(pids)}, \`\${process.pid} \${grandchild.pid}\`);`,
        "process.on('SIGTERM', () => {});",
        'setInterval(() => {}, 1000);',
      ].join('\n'),
    );
    const command = await startCommand({ command: 'node', args: ['tree.mjs'], cwd: dir, env, graceMs: 500, onLine: () => {} });
    const [child = 0, grandchild = 0] = await waitUntil('the pids', async () => {
      try {
        const found = readFileSync(pids, 'utf8').split(' ').map(Number);
        return found.length === 2 ? found : undefined;
      } catch {
        return undefined;
      }
    });
    assert.equal(child, command.pid);
    const started = Date.now();
    assert.deepEqual(await command.stop(), { code: null, signal: 'SIGKILL' });
    assert.ok(Date.now() - started >= 400, 'SIGKILL came when the grace period ended');
    await waitUntil('the grandchild to be killed', async () => (isRunning(grandchild) ? undefined : true), { timeoutMs: 10_000 });
  });

  it('a background process left by a command that exited is killed with its group', async () => {
    const pidFile = join(dir, 'pid');
    const script = `const c = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid)); c.unref();`;
    const command = await startCommand({ command: 'node', args: ['-e', script], cwd: dir, env, graceMs: 500, onLine: () => {} });
    assert.deepEqual(await command.exited, { code: 0, signal: null });
    const background = Number(readFileSync(pidFile, 'utf8'));
    await waitUntil('the background process to be killed', async () => (isRunning(background) ? undefined : true), { timeoutMs: 10_000 });
  });

  it('reads ::mlp progress lines, tells malformed ones apart, and leaves other lines alone', () => {
    assert.deepEqual(parseProgressLine('::mlp progress {"done": 3, "total": 10, "message": "epoch 3"}'), { progress: { done: 3, total: 10, message: 'epoch 3' } });
    assert.equal(parseProgressLine('epoch 3 done'), undefined);
    assert.deepEqual(parseProgressLine('::mlp progress {done: 3}'), { problem: 'not JSON after "::mlp progress "' });
    const wrong = parseProgressLine('::mlp progress {"done": "3"}');
    assert.ok(wrong !== undefined && 'problem' in wrong && /done/.test(wrong.problem), JSON.stringify(wrong));
  });

  it('metrics: a JSON object of numbers, none without the file, a RunContractError naming what is wrong otherwise', async () => {
    const file = join(dir, 'metrics.json');
    assert.deepEqual(await readMetricsFile(file), {});
    writeFileSync(file, '{"valAuc": 0.93, "loss": 1e-3}');
    assert.deepEqual(await readMetricsFile(file), { valAuc: 0.93, loss: 0.001 });
    for (const [text, message] of [
      ['[1, 2]', /holds an array, not a JSON object of numbers/],
      ['{"valAuc": null}', /metric "valAuc" is null, not a number/],
      ['{"valAuc": 0.9,', /is not JSON/],
    ] as const) {
      writeFileSync(file, text);
      await assert.rejects(readMetricsFile(file), (error: unknown) => error instanceof RunContractError && message.test(error.message));
    }
  });

  it('a folder’s hash is that of its sha256sum-style listing: names and contents count, order does not', () => {
    const a = { path: 'a.txt', sha256: '1'.repeat(64) };
    const b = { path: 'sub/b.txt', sha256: '2'.repeat(64) };
    assert.equal(listingSha256([a, b]), listingSha256([b, a]));
    assert.notEqual(listingSha256([a, b]), listingSha256([a, { ...b, path: 'sub/c.txt' }]));
    assert.notEqual(listingSha256([a, b]), listingSha256([a, { ...b, sha256: '3'.repeat(64) }]));
  });
});
