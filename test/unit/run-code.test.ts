import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageCodeFolder } from '../../client/pipelines/code-package.ts';
import { packageRunSteps } from '../../client/pipelines/run-code.ts';
import type { UnhashedPipeline } from '../../common/pipeline-spec/resolve.ts';
import type { ResolvedStep } from '../../common/resolved-pipeline.ts';

/** A resolved step as resolvePipeline makes it, with only what packaging looks at filled in. */
function step(id: string, uses: string, withInput: Record<string, unknown>): ResolvedStep {
  return {
    id,
    uses,
    with: withInput,
    needs: [],
    queue: 'cpu',
    retry: { maximumAttempts: 1, initialInterval: '1s', backoffCoefficient: 2 },
    timeout: '1m',
    cache: true,
  };
}

function pipelineOf(...steps: ResolvedStep[]): UnhashedPipeline {
  return { apiVersion: 'mlp/v1', name: 'p', params: {}, steps };
}

describe('run steps’ code at submit time (packageRunSteps)', () => {
  let dir: string;
  let pipelines: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlp-run-code-'));
    pipelines = join(dir, 'pipelines');
    await mkdir(join(pipelines, 'fit', '.venv'), { recursive: true });
    await writeFile(join(pipelines, 'fit', 'fit.py'), 'print(1)\n');
    await writeFile(join(pipelines, 'fit', 'requirements.txt'), 'numpy\n');
    await writeFile(join(pipelines, 'fit', '.venv', 'requirements.txt'), 'left out\n');
    await writeFile(join(dir, 'outside.txt'), 'not code\n');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces each run step’s folder by sha256:<hex> of its archive, packaging a shared folder once', async () => {
    const noop = step('first', 'noop', { code: './fit' });
    const pipeline = pipelineOf(
      noop,
      step('fit', 'run', { code: './fit', command: ['python', 'fit.py'], python: { requirements: 'requirements.txt' } }),
      step('again', 'run', { code: 'fit/', command: ['python', 'fit.py'] }),
    );
    const { pipeline: packaged, code, issues } = await packageRunSteps(pipeline, { baseDir: pipelines });
    assert.deepEqual(issues, []);
    const expected = await packageCodeFolder(join(pipelines, 'fit'));
    assert.equal(code.length, 1);
    assert.equal(code[0]?.sha256, expected.sha256);
    assert.deepEqual(code[0]?.steps, ['fit', 'again']);
    assert.equal(packaged.steps[1]?.with['code'], `sha256:${expected.sha256}`);
    assert.equal(packaged.steps[2]?.with['code'], `sha256:${expected.sha256}`);
    assert.deepEqual(packaged.steps[1]?.with['python'], { requirements: 'requirements.txt' }, 'the requirements path stays relative to the code');
    assert.equal(packaged.steps[0], noop, 'other kinds are left alone');
    assert.equal(pipeline.steps[1]?.with['code'], './fit', 'the input pipeline is not changed');
  });

  it('keeps a code already given as sha256:<hex> (an archive stored earlier)', async () => {
    const stored = `sha256:${'a'.repeat(64)}`;
    const { pipeline, code, issues } = await packageRunSteps(pipelineOf(step('fit', 'run', { code: stored, command: ['x'] })), { baseDir: pipelines });
    assert.deepEqual(issues, []);
    assert.deepEqual(code, []);
    assert.equal(pipeline.steps[0]?.with['code'], stored);
  });

  it('reports a missing folder, a path leaving the pipeline’s folder, an absolute path, a file and an expression at with.code', async () => {
    await symlink(dir, join(pipelines, 'up-link'));
    const cases: [string, RegExp][] = [
      ['./nope', /^code "\.\/nope": no such folder \(looked for .*pipelines\/nope\)$/],
      ['../', /^code "\.\.\/" leaves the pipeline file's folder: the code must be in it or below it$/],
      ['fit/../../x', /leaves the pipeline file's folder/],
      [join(pipelines, 'fit'), /expected a folder relative to the pipeline file, not an absolute path/],
      ['fit/fit.py', /is a file, expected a folder/],
      ['up-link', /^code "up-link" leads through a symlink out of the pipeline file's folder/],
      ['${{ matrix.folder }}', /must be known when the run is submitted/],
    ];
    const steps = cases.map(([code], index) => step(`s${index}`, 'run', { code, command: ['x'] }));
    const { issues, code } = await packageRunSteps(pipelineOf(...steps), { baseDir: pipelines });
    assert.deepEqual(code, []);
    assert.deepEqual(
      issues.map((issue) => issue.path),
      cases.map((_, index) => ['steps', index, 'with', 'code']),
    );
    issues.forEach((issue, index) => assert.match(issue.message, cases[index]?.[1] ?? /never/));
  });

  it('reports requirements that are missing, outside the code, left out of the archive or absolute at python.requirements', async () => {
    const cases: [string, RegExp][] = [
      ['missing.txt', /^python\.requirements "missing\.txt": no such file in the code folder/],
      ['../../outside.txt', /leaves the code folder: the requirements file must be inside it/],
      ['.venv/requirements.txt', /is under \.venv, which is left out of the packaged code/],
      ['/etc/hostname', /not an absolute path/],
    ];
    const steps = cases.map(([requirements], index) => step(`s${index}`, 'run', { code: 'fit', command: ['x'], python: { requirements } }));
    const { issues } = await packageRunSteps(pipelineOf(...steps), { baseDir: pipelines });
    assert.deepEqual(
      issues.map((issue) => issue.path),
      cases.map((_, index) => ['steps', index, 'with', 'python', 'requirements']),
    );
    issues.forEach((issue, index) => assert.match(issue.message, cases[index]?.[1] ?? /never/));
  });

  it('reports a folder over the size limit, and a symlink inside it that escapes, at with.code', async () => {
    // Sparse: 51 MiB by its size, nothing on disk; packaging refuses it before reading a byte.
    await mkdir(join(pipelines, 'big'));
    await writeFile(join(pipelines, 'big', 'data.bin'), '');
    await truncate(join(pipelines, 'big', 'data.bin'), 51 * 1024 * 1024);
    await mkdir(join(pipelines, 'leaky'));
    await symlink('../../outside.txt', join(pipelines, 'leaky', 'data.txt'));
    const { issues } = await packageRunSteps(
      pipelineOf(step('big', 'run', { code: 'big', command: ['x'] }), step('leaky', 'run', { code: 'leaky', command: ['x'] })),
      { baseDir: pipelines },
    );
    assert.equal(issues.length, 2);
    assert.deepEqual(issues[0]?.path, ['steps', 0, 'with', 'code']);
    assert.match(issues[0]?.message ?? '', /^code "big": Code folder .*big is larger than the limit of 50 MiB \(reached at data\.bin\)/);
    assert.deepEqual(issues[1]?.path, ['steps', 1, 'with', 'code']);
    assert.match(issues[1]?.message ?? '', /^code "leaky": Code folder .*leaky: symlink data\.txt -> \.\.\/\.\.\/outside\.txt points outside the folder$/);
  });
});
