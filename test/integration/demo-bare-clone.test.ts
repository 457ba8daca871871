import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT, resolveS3Binary, resolveTemporalBinary } from '../../client/servers/binaries.ts';
import { freePort } from '../../client/servers/launch.ts';
import { parseStackConfig } from '../../client/stack/config.ts';
import { stackDown } from '../../client/stack/stack.ts';

interface Finished {
  code: number | null;
  output: string;
}

/** Runs a command to its end (or kills it at the deadline) and returns its exit code and output. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, deadlineMs: number): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${command} ${args.join(' ')} did not finish in ${deadlineMs / 1000} s; output so far:\n${output}`));
    }, deadlineMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/**
 * A newcomer's machine: the repository alone in an empty folder (its files as git lists them, no
 * `../shared` beside it), no network (the public hosts point at a closed local port). Only the
 * installed packages and the built servers are borrowed from this checkout, standing in for
 * `npm ci` and `mlp servers install`.
 */
describe('a bare copy of the repository runs the demo offline', function () {
  this.timeout(300_000);
  let root: string;
  let repo: string;
  let home: string;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'mlp-bare-'));
    repo = join(root, 'repo');
    home = join(root, 'home');
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: PROJECT_ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((file) => file !== '');
    for (const file of files) {
      mkdirSync(dirname(join(repo, file)), { recursive: true });
      // A file deleted in the working tree but still in the index is not part of this tree.
      try {
        copyFileSync(join(PROJECT_ROOT, file), join(repo, file));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  });

  after(async () => {
    if (home) await stackDown(parseStackConfig({ home }, {}));
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('says to run npm ci first when ./mlp or npm run demo runs before it, with exit code 2', async () => {
    const expected = `mlp: the project's dependencies are not installed: run \`npm ci\` in ${repo} first\n`;
    const direct = await run(join(repo, 'mlp'), ['--help'], repo, process.env, 30_000);
    assert.deepEqual(direct, { code: 2, output: expected });
    const viaNpm = await run('npm', ['run', '--silent', 'demo'], repo, process.env, 60_000);
    assert.deepEqual(viaNpm, { code: 2, output: expected });
  });

  it('completes on synthetic images with a small backbone, saying so at the start and beside the results', async () => {
    symlinkSync(realpathSync(join(PROJECT_ROOT, 'node_modules')), join(repo, 'node_modules'));
    const [temporal, s3] = await Promise.all([resolveTemporalBinary(), resolveS3Binary('versitygw')]);
    const closed = `http://127.0.0.1:${await freePort('127.0.0.1')}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MLP_HOME: home,
      MLP_TEMPORAL_PORT: String(await freePort('127.0.0.1')),
      MLP_TEMPORAL_UI_PORT: String(await freePort('127.0.0.1')),
      MLP_S3_PORT: String(await freePort('127.0.0.1')),
      MLP_S3_SERVER: 'versitygw',
      MLP_TEMPORAL_BIN: temporal.path,
      MLP_S3_SERVER_BIN: s3.path,
      MLP_DEMO_BACKBONE_URL: `${closed}/tfjs-models/mobilenet_v1_0.75_224/model.json`,
      MLP_DEMO_DATASET_URL: `${closed}/ChestXRay2017.zip`,
    };
    delete env['MLP_SHARED_DIR'];

    const result = await run(join(repo, 'mlp'), ['demo', '--set', 'epochs=1'], repo, env, 280_000);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /^sources: OFFLINE — no \.\.\/shared or MLP_SHARED_DIR here and the public sources cannot be reached \(Cannot reach http:\/\/127\.0\.0\.1:\d+\/tfjs-models\/.*\): running on SYNTHETIC images with a small random backbone, no download$/m);
    assert.match(result.output, /^4\/4 run: pneumonia-demo-synthetic-/m);
    assert.match(result.output, /^ {2}train {8}1 epochs on /m);
    assert.match(result.output, /^ {2}publish {6}version 1 at models\/pneumonia-demo-synthetic\/1\//m);
    assert.match(result.output, /^These results are on SYNTHETIC images with a small random backbone, not real chest X-rays\./m);
    assert.doesNotMatch(result.output, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
    assert.doesNotMatch(result.output, /^fatal:/m, "no git complaint about the missing .git");
  });
});
