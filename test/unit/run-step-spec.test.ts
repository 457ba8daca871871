import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageCodeFolder } from '../../client/pipelines/code-package.ts';
import { loadPipelineFile, loadPipelineText } from '../../client/pipelines/pipeline-file.ts';
import { formatPlan, planPipeline } from '../../client/pipelines/plan.ts';
import { PipelineValidationError } from '../../common/errors.ts';
import { runStep } from '../../common/step-kinds/run.ts';
import { fanIn } from '../../workflows/sweep.ts';

/**
 * A pipeline with `run` steps as the CLI loads it from a file: the code folder packaged and named
 * by sha256 in the resolved spec, references typed by the outputs each run step declares, and a
 * sweep selecting by any metric the user's code writes.
 */

const PIPELINE = `apiVersion: mlp/v1
name: tabular
steps:
  - id: prepare
    uses: run
    with:
      code: ./code
      command: [python, prepare.py]
      outputs:
        data: directory
  - id: fit
    uses: run
    needs: [prepare]
    matrix: { C: [0.1, 1.0] }
    select: { metric: valAuc, goal: max }
    with:
      code: ./code
      command: [python, fit.py, --C, "\${{ matrix.C }}", --seed, "\${{ steps.prepare.outputs.metrics.seed }}"]
      python:
        requirements: requirements.txt
      inputs:
        data: \${{ steps.prepare.outputs.data }}
      outputs:
        predictions: file
`;

describe('run steps in a pipeline file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlp-run-spec-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeProject(root: string, pipeline = PIPELINE): Promise<string> {
    await mkdir(join(root, 'code', '__pycache__'), { recursive: true });
    await writeFile(join(root, 'code', 'prepare.py'), 'print("prepare")\n');
    await writeFile(join(root, 'code', 'fit.py'), 'print("fit")\n');
    await writeFile(join(root, 'code', 'requirements.txt'), 'numpy\n');
    await writeFile(join(root, 'code', '__pycache__', 'fit.cpython-312.pyc'), 'bytecode');
    await writeFile(join(root, 'pipeline.yaml'), pipeline);
    return join(root, 'pipeline.yaml');
  }

  it('names the code by the sha256 of its archive, so the spec hash follows the code’s bytes and nothing else', async () => {
    const file = await writeProject(join(dir, 'a'));
    const loaded = await loadPipelineFile(file);
    const { sha256 } = await packageCodeFolder(join(dir, 'a', 'code'));
    assert.deepEqual(loaded.resolved.steps.map((step) => step.with['code']), [`sha256:${sha256}`, `sha256:${sha256}`]);
    assert.equal(loaded.code.length, 1, 'one archive for the folder both steps use');
    assert.deepEqual(loaded.code[0]?.steps, ['prepare', 'fit']);

    await utimes(join(dir, 'a', 'code', 'fit.py'), new Date('2000-01-01'), new Date('2000-01-01'));
    await writeFile(join(dir, 'a', 'code', '__pycache__', 'fit.cpython-312.pyc'), 'other bytecode');
    assert.equal((await loadPipelineFile(file)).resolved.specHash, loaded.resolved.specHash, 'mtimes and left-out folders do not count');
    const elsewhere = await writeProject(join(dir, 'b'));
    assert.equal((await loadPipelineFile(elsewhere)).resolved.specHash, loaded.resolved.specHash, 'nor does where the project lies');

    await writeFile(join(dir, 'a', 'code', 'fit.py'), 'print("fit!")\n');
    const edited = await loadPipelineFile(file);
    assert.notEqual(edited.resolved.specHash, loaded.resolved.specHash);
    assert.notEqual(edited.resolved.steps[0]?.with['code'], `sha256:${sha256}`);
  });

  it('shows each run step’s code in mlp plan', async () => {
    const loaded = await loadPipelineFile(await writeProject(dir));
    const plan = planPipeline(loaded.resolved, undefined, loaded.code);
    const sha256 = loaded.code[0]?.sha256 ?? '';
    assert.deepEqual(plan.steps.find((step) => step.id === 'fit')?.code, { sha256, folder: './code', files: 3, bytes: loaded.code[0]?.bytes });
    assert.match(formatPlan(plan), new RegExp(`code: sha256:${sha256} from \\./code \\(3 files, \\d+ bytes\\)`));
  });

  it('types a reference to a run step’s output by what it is: an object key, or the metrics record', async () => {
    const wrong = PIPELINE.replace('data: ${{ steps.prepare.outputs.data }}', 'data: ${{ steps.prepare.outputs.metrics }}');
    const error = await loadPipelineFile(await writeProject(dir, wrong)).then(
      () => assert.fail('a record where an object key goes must fail'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof PipelineValidationError);
    assert.equal(error.problems.length, 1);
    assert.match(error.message, /pipeline\.yaml:22:15: \$\{\{ steps\.prepare\.outputs\.metrics \}\} is a object, but run input "inputs\.data" expects string$/);
  });

  it('refuses a code folder over the size limit at with.code', async () => {
    const file = await writeProject(dir);
    // Sparse: 51 MiB by its size, nothing on disk; packaging refuses it before reading a byte.
    await truncate(join(dir, 'code', 'prepare.py'), 51 * 1024 * 1024);
    await assert.rejects(loadPipelineFile(file), (error: unknown) => {
      assert.ok(error instanceof PipelineValidationError);
      assert.deepEqual(error.problems.map((problem) => [problem.line, problem.col]), [[7, 13], [17, 13]], 'at the code field of each step that uses the folder');
      assert.match(error.message, /pipeline\.yaml:7:13: code "\.\/code": Code folder .*code is larger than the limit of 50 MiB \(reached at prepare\.py\)/);
      return true;
    });
  });

  it('selects the trial whose code wrote the best metric; a trial that wrote none has no metric', () => {
    const sweep = { trials: [0, 1, 2].map((index) => ({ index, matrix: { C: index } })), maxParallel: 3, select: { metric: 'valAuc', goal: 'max' as const }, minSuccess: 2 };
    const outputs = (metrics: Record<string, number>) => ({ outputs: { predictions: 'artifacts/x/p.csv', metrics, artifacts: {} }, cached: false });
    const { outputs: selected, trials } = fanIn('fit', runStep, sweep, [outputs({ valAuc: 0.7 }), outputs({ loss: 0.1 }), outputs({ valAuc: 0.9 })]);
    assert.deepEqual(selected['metrics'], { valAuc: 0.9 });
    assert.deepEqual(trials.map((trial) => [trial.status, trial.metric, trial.selected]), [
      ['succeeded', 0.7, false],
      ['failed', undefined, false],
      ['succeeded', 0.9, true],
    ]);
    assert.match(trials[1]?.error ?? '', /reported no number for select metric "valAuc"/);
  });

  it('keeps run steps’ code as written when only the text is loaded (no folder to package)', () => {
    const loaded = loadPipelineText(PIPELINE, 'inline.yaml');
    assert.equal(loaded.resolved.steps[0]?.with['code'], './code');
    assert.deepEqual(loaded.code, []);
  });
});
