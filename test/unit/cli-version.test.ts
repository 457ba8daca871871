import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `mlp` as a user would (`npx tsx client/bin.ts …`) with exactly `env` added to PATH and HOME. */
function mlp(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' };
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', 'client/bin.ts', ...args], { cwd: ROOT, env: { ...base, ...env } }, (error, stdout, stderr) => {
      done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

describe('mlp --version', function () {
  this.timeout(60_000);

  it('prints the package version and the checkout’s git commit, and exits 0', async () => {
    const { version } = JSON.parse(await readFile(`${ROOT}package.json`, 'utf8')) as { version: string };
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const run = await mlp(['--version']);
    assert.equal(run.code, 0, run.stderr);
    const [packageLine, codeLine, ...rest] = run.stdout.trimEnd().split('\n');
    assert.equal(packageLine, `mlp ${version}`);
    // Other edits in the checkout make it `-dirty`, exactly as a worker started from it would record.
    assert.match(codeLine ?? '', new RegExp(`^code ${head}(-dirty)?$`));
    assert.deepEqual(rest, []);
  });

  it('prints MLP_CODE_VERSION when set, the code version a worker records in model lineage', async () => {
    const run = await mlp(['-V'], { MLP_CODE_VERSION: 'build-1234' });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.split('\n')[1], 'code build-1234');
  });
});
