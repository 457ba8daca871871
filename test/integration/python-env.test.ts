import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensurePythonEnv, pipEnvironment } from '../../activities/run/python-env.ts';
import { NON_RETRYABLE_ERROR_TYPES, PythonEnvironmentError, PythonPackageIndexError } from '../../common/errors.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const exec = promisify(execFile);
const OTHER_PROCESS = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'ensure-python-env-process.ts');

/**
 * The Python environments of `run` steps, with the real interpreter and pip. Each test builds in
 * its own temp folder with a requirements text of its own (a comment with a nonce), so it
 * really builds; pip is kept offline (PIP_NO_INDEX) so the tests need no index.
 */
describe('Python environments of run steps', function () {
  this.timeout(120_000);
  let envsDir: string;
  beforeEach(async () => {
    envsDir = await mkdtemp(join(tmpdir(), 'mlp-envs-'));
  });
  afterEach(async () => {
    await rm(envsDir, { recursive: true, force: true });
  });

  const unique = (text: string): string => `# test ${randomUUID()}\n${text}`;

  it('builds an environment for empty requirements once and reuses it: the same interpreter, no second build', async () => {
    const requirementsText = unique('');
    const lines: string[] = [];
    const first = await ensurePythonEnv({ envsDir, requirementsText, onLine: (line) => lines.push(line) });
    assert.equal(first.python, join(envsDir, first.envKey, 'bin', 'python'));
    assert.match(first.pythonVersion, /^3\.\d+\.\d+/);
    const { stdout } = await exec(first.python, ['-c', 'import sys, platform; print(sys.prefix); print(platform.python_version())']);
    assert.deepEqual(stdout.trim().split('\n'), [join(envsDir, first.envKey), first.pythonVersion], 'the interpreter runs inside the env');
    assert.equal(lines.filter((line) => line.startsWith('Building')).length, 1);

    const started = performance.now();
    const second = await ensurePythonEnv({ envsDir, requirementsText, onLine: (line) => lines.push(line) });
    const secondMs = performance.now() - started;
    assert.deepEqual(second, first);
    assert.equal(lines.filter((line) => line.startsWith('Building')).length, 1, 'the second call built nothing');
    assert.ok(secondMs < 2_000, `the second call took ${secondMs.toFixed(0)} ms`);
  });

  it('builds once when callers in two processes ask for the same environment at the same time', async () => {
    // `--no-index` alone installs nothing but makes a full env with pip: a build of seconds to overlap.
    const requirementsText = unique('--no-index\n');
    const requirementsFile = join(envsDir, 'requirements.txt');
    await writeFile(requirementsFile, requirementsText);

    const other = spawn(process.execPath, ['--import', 'tsx', OTHER_PROCESS, envsDir, requirementsFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    const otherLines: string[] = [];
    createInterface({ input: other.stdout }).on('line', (line) => otherLines.push(line));
    const otherExit = new Promise<number | null>((resolve) => other.once('close', resolve));
    await waitUntil('the other process to start building', async () => (otherLines.some((line) => line.startsWith('line: Building')) ? true : undefined), { timeoutMs: 60_000 });

    const lines: string[][] = [[], []];
    const here = await Promise.all(lines.map((sink) => ensurePythonEnv({ envsDir, requirementsText, onLine: (line) => sink.push(line) })));
    assert.equal(await otherExit, 0);
    const otherEnv = otherLines.find((line) => line.startsWith('env: '));
    assert.ok(otherEnv !== undefined, otherLines.join('\n'));
    const there = JSON.parse(otherEnv.slice('env: '.length)) as unknown;

    assert.deepEqual(here[0], here[1]);
    assert.deepEqual(there, here[0]);
    for (const sink of lines) {
      assert.ok(sink.some((line) => line.startsWith('Waiting for another build')), sink.join('\n'));
      assert.ok(!sink.some((line) => line.startsWith('Building')), sink.join('\n'));
    }
    assert.deepEqual((await readdir(envsDir)).filter((name) => name !== 'requirements.txt'), [here[0]?.envKey], 'one env, no lock or half-built folder left');
    await exec(here[0]?.python ?? '', ['-m', 'pip', '--version']);
  });

  it('fails with pip’s last lines when a requirement cannot be installed, and leaves no environment behind', async () => {
    const findLinks = join(envsDir, 'wheels');
    await mkdir(findLinks);
    const requirementsText = unique('mlp-no-such-package-a7c3==1.0\n');
    // pip's own configuration comes from the worker's PIP_* variables: here, offline with our find-links.
    const environment = { ...process.env, PIP_NO_INDEX: '1', PIP_FIND_LINKS: findLinks };
    const error = await ensurePythonEnv({ envsDir, requirementsText, environment }).then(
      () => assert.fail('expected the build to fail'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof PythonEnvironmentError, String(error));
    assert.match(error.message, /pip install of the step's requirements failed \(exit code 1\)/);
    assert.match(error.message, /No matching distribution found for mlp-no-such-package-a7c3==1\.0/);
    assert.match(error.message, new RegExp(`Looking in links: ${findLinks}`), 'pip read PIP_FIND_LINKS');
    assert.ok(error.message.split('\n').length <= 21, 'at most 20 lines of pip');
    assert.deepEqual(await readdir(envsDir), ['wheels'], 'the half-built env and its lock are gone');
  });

  it('fails retryably, as PythonPackageIndexError, when pip cannot reach its package index', async () => {
    // A port nothing listens on: pip warns that the connection broke, then finds no package.
    const environment = { ...process.env, PIP_INDEX_URL: 'http://127.0.0.1:1/simple', PIP_FIND_LINKS: '', PIP_RETRIES: '1' };
    const error = await ensurePythonEnv({ envsDir, requirementsText: unique('six==1.16.0\n'), environment }).then(
      () => assert.fail('expected the build to fail'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof PythonPackageIndexError, String(error));
    assert.match(error.message, /could not reach its package index/);
    assert.match(error.message, /Connection refused/);
    assert.ok(!NON_RETRYABLE_ERROR_TYPES.includes(error.name), 'the step’s retry policy retries it');
    assert.deepEqual(await readdir(envsDir), [], 'the half-built env and its lock are gone');
  });

  it('hands pip the worker’s PIP_* configuration but no storage or Temporal secret', () => {
    const kept = pipEnvironment({
      PATH: '/usr/bin',
      HOME: '/home/worker',
      PIP_INDEX_URL: 'https://mirror.example/simple',
      PIP_FIND_LINKS: '/opt/wheels',
      S3_SECRET_ACCESS_KEY: 'secret',
      S3_ACCESS_KEY_ID: 'id',
      AWS_SESSION_TOKEN: 'token',
      MLP_S3_SECRET: 'secret',
      TEMPORAL_API_KEY_FILE: '/run/secrets/key',
      TEMPORAL_TLS_CLIENT_KEY_PATH: '/run/secrets/tls.key',
      GITHUB_TOKEN: 'token',
      PYTHONHOME: '/elsewhere',
    });
    assert.deepEqual(kept, { PATH: '/usr/bin', HOME: '/home/worker', PIP_INDEX_URL: 'https://mirror.example/simple', PIP_FIND_LINKS: '/opt/wheels' });
  });

  it('refuses a base interpreter that does not exist, naming it', async () => {
    await assert.rejects(
      ensurePythonEnv({ envsDir, requirementsText: '', basePython: 'python-does-not-exist-3.99' }),
      (error: unknown) => error instanceof PythonEnvironmentError && /python-does-not-exist-3\.99/.test(error.message),
    );
    assert.deepEqual(await readdir(envsDir), [], 'nothing was built');
  });
});
