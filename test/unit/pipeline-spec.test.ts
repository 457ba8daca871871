import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { NON_RETRYABLE_ERROR_TYPES, PipelineValidationError } from '../../common/errors.ts';
import { executionLevels } from '../../common/pipeline-spec/index.ts';
import { loadPipelineFile, loadPipelineText } from '../../client/pipelines/pipeline-file.ts';
import { pipelineJsonSchemaText } from '../../client/commands/schema.ts';
import { planPipeline } from '../../client/pipelines/plan.ts';

const FIXTURES = 'test/fixtures/pipelines';

/** Every problem of a file that must fail validation, as `file:line:col: message` lines. */
async function problemsOf(file: string, settings: string[] = []): Promise<string[]> {
  try {
    await loadPipelineFile(file, settings);
  } catch (error) {
    if (error instanceof PipelineValidationError) return error.message.split('\n');
    throw error;
  }
  assert.fail(`${file} validated but was expected to fail`);
}

interface InvalidCase {
  title: string;
  file: string;
  settings?: string[];
  expected: string[];
}

const invalid: InvalidCase[] = [
  {
    title: 'an unknown key, at the key',
    file: 'unknown-key.yaml',
    expected: ['unknown-key.yaml:6:5: steps[0]: unknown key "whith"'],
  },
  {
    title: 'wrong types, at the values',
    file: 'wrong-type.yaml',
    expected: [
      'wrong-type.yaml:7:24: steps[0].retry.maximumAttempts: Invalid input: expected number, received string',
      'wrong-type.yaml:8:14: steps[0].timeout: expected a duration like 500ms, 30s, 10m, 2h or 1d',
    ],
  },
  {
    title: 'a cycle, naming its steps, at the needs of its first step',
    file: 'cycle.yaml',
    expected: ['cycle.yaml:8:12: needs form a cycle: b -> d -> c -> b'],
  },
  {
    title: 'a missing needs target, at the entry',
    file: 'missing-needs.yaml',
    expected: ['missing-needs.yaml:10:9: step "b" needs unknown step "prepare"'],
  },
  {
    title: 'bad references: unknown param, step not needed, unknown output, unknown step',
    file: 'bad-reference.yaml',
    expected: [
      'bad-reference.yaml:11:14: ${{ params.sed }} refers to unknown param "sed" (params: seed)',
      'bad-reference.yaml:15:14: ${{ steps.a.outputs.value }} refers to step "a", which step "b" does not need (add it to needs)',
      'bad-reference.yaml:20:14: ${{ steps.a.outputs.result }}: step "a" (noop) has no output "result" (outputs: value)',
      'bad-reference.yaml:25:14: ${{ steps.z.outputs.value }} refers to unknown step "z"',
    ],
  },
  {
    title: 'a malformed expression, at its string',
    file: 'bad-expression.yaml',
    expected: [
      'bad-expression.yaml:7:14: Invalid expression ${{ env.HOME }}: expected ${{ params.<name> }}, ${{ steps.<id>.outputs.<name> }}, ${{ matrix.<name> }} or ${{ item }}',
    ],
  },
  {
    title: 'a duplicate step id, at the second one',
    file: 'duplicate-id.yaml',
    expected: ['duplicate-id.yaml:6:9: duplicate step id "fetch" (first used by steps[0])'],
  },
  {
    title: 'an unknown step kind, listing the known ones',
    file: 'unknown-kind.yaml',
    expected: ['unknown-kind.yaml:5:11: unknown step kind "trian" (known: download, evaluate, noop, publish, run, subset, train)'],
  },
  {
    title: "inputs that break the step kind's schema after params and references are resolved",
    file: 'input-type.yaml',
    expected: [
      'input-type.yaml:11:16: steps[0].with.sleepMs: Invalid input: expected number, received string',
      'input-type.yaml:18:14: steps[1].with.fractions.val: Too big: expected number to be <=1',
      'input-type.yaml:37:15: ${{ steps.subset.outputs.manifestHash }} is a string, but train input "epochs" expects integer',
      'input-type.yaml:38:18: ${{ steps.subset.outputs.counts }} is interpolated into a string, but train input "batchSize" expects integer',
    ],
  },
  {
    title: 'cache: true on a download whose source is named but not pinned (a cache over names goes stale)',
    file: 'uncacheable-download.yaml',
    expected: [
      'uncacheable-download.yaml:6:12: cannot cache this download step: the source can change under the same URL; pin its sha256 to cache this step',
    ],
  },
  {
    title: 'a YAML syntax error',
    file: 'yaml-syntax.yaml',
    expected: ['yaml-syntax.yaml:8:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
  },
  {
    title: 'a sweep with an empty matrix, or a matrix entry without values',
    file: 'sweep-empty-matrix.yaml',
    expected: [
      'sweep-empty-matrix.yaml:6:13: step "nothing": the matrix is empty: expected at least one entry with a list of values',
      'sweep-empty-matrix.yaml:12:14: steps[1].matrix.score: expected at least one value',
    ],
  },
  {
    title: 'a matrix larger than the limit, stating the limit',
    file: 'sweep-too-large.yaml',
    expected: ['sweep-too-large.yaml:7:7: step "sweep": the matrix expands to 125 trials: at most 64 per step'],
  },
  {
    title: 'an unknown ${{ matrix.x }} name, and ${{ matrix.x }} in a step without a matrix',
    file: 'sweep-unknown-matrix.yaml',
    expected: [
      'sweep-unknown-matrix.yaml:9:14: ${{ matrix.scroe }} refers to unknown matrix entry "scroe" (matrix: score)',
      'sweep-unknown-matrix.yaml:13:14: ${{ matrix.score }}: step "plain" has no matrix (matrix values exist only in the with: of a step with a matrix)',
    ],
  },
  {
    title: 'a select metric the step kind does not output as a number',
    file: 'sweep-bad-select.yaml',
    expected: [
      'sweep-bad-select.yaml:8:23: select.metric "accuracy": noop outputs no number "accuracy" (numeric outputs: value)',
      'sweep-bad-select.yaml:15:23: select.metric "classes": download output "classes" is not a number (numeric outputs: skipped)',
    ],
  },
  {
    title: "a sweep's outputs used downstream without select",
    file: 'sweep-unselected-outputs.yaml',
    expected: [
      'sweep-unselected-outputs.yaml:14:14: ${{ steps.sweep.outputs.value }}: step "sweep" is a sweep (matrix) without select, so it has no single "value": add select: { metric, goal } to it, or use outputs.trials',
    ],
  },
  {
    title: 'excludes naming unknown entries or values, and sweep settings on a step without a matrix',
    file: 'sweep-settings.yaml',
    expected: [
      'sweep-settings.yaml:9:18: exclude: 40 is not a value of matrix entry "delay" (10, 20, 30)',
      'sweep-settings.yaml:10:18: exclude names unknown matrix entry "speed" (matrix: delay)',
      'sweep-settings.yaml:16:13: select needs a matrix on step "plain" (it configures a sweep)',
      'sweep-settings.yaml:17:18: maxParallel needs a matrix on step "plain" (it configures a sweep) or foreach',
    ],
  },
  {
    title: "every trial's inputs checked against the kind (naming a trial that breaks it) and a train metric that does not exist",
    file: 'sweep-trial-input.yaml',
    expected: [
      'sweep-trial-input.yaml:11:16: steps[0].with.sleepMs: Invalid input: expected number, received string (in trial #2: delay=slow value=1 and 3 more)',
      'sweep-trial-input.yaml:16:23: select.metric "valAcu": train outputs no number "valAcu" (numeric outputs: epochs, secondsPerEpoch, imagesPerSecond, resumedFromEpoch, seed, trainImages, valImages, featureSeconds, featuresReused, featuresComputed; metrics: loss, accuracy, valLoss, valAccuracy, valAuc)',
    ],
  },
  {
    title: 'a --set value of the wrong type and an unknown --set name, at the params',
    file: 'diamond.yaml',
    settings: ['sleepMs=abc', 'nope=1'],
    expected: [
      'diamond.yaml:3:1: --set nope=1: unknown param "nope" (params: message, sleepMs)',
      'diamond.yaml:7:3: --set sleepMs=abc: param "sleepMs" is an integer, got "abc"',
    ],
  },
];

describe('pipeline spec validation', () => {
  describe('rejects, with the exact message and position', () => {
    for (const { title, file, settings, expected } of invalid) {
      it(title, async () => {
        assert.deepEqual(
          await problemsOf(`${FIXTURES}/${file}`, settings),
          expected.map((line) => `${FIXTURES}/${line}`),
        );
      });
    }
  });

  it('rejects a --set argument without "=" before reading params', async () => {
    await assert.rejects(loadPipelineFile(`${FIXTURES}/diamond.yaml`, ['sleepMs']), {
      name: 'PipelineSpecError',
      message: '--set sleepMs: expected name=value',
    });
  });

  it('rejects a param without default that is not set, at the param', () => {
    const text = 'apiVersion: mlp/v1\nname: p\nparams:\n  seed:\n    type: integer\nsteps:\n  - id: a\n    uses: noop\n';
    assert.throws(() => loadPipelineText(text, 'p.yaml'), {
      message: 'p.yaml:4:3: param "seed" has no default: pass --set seed=<integer>',
    });
  });

  it('reports every problem as data with file, line and column', async () => {
    await assert.rejects(loadPipelineFile(`${FIXTURES}/duplicate-id.yaml`), (error: unknown) => {
      assert.ok(error instanceof PipelineValidationError);
      assert.deepEqual(error.problems, [
        { file: `${FIXTURES}/duplicate-id.yaml`, line: 6, col: 9, message: 'duplicate step id "fetch" (first used by steps[0])' },
      ]);
      return true;
    });
  });

  describe('accepts and resolves', () => {
    it('a diamond: params substituted, defaults filled, step references kept for the workflow', async () => {
      const { resolved } = await loadPipelineFile(`${FIXTURES}/diamond.yaml`, ['sleepMs=25']);
      assert.deepEqual(resolved.params, { message: 'hello', sleepMs: 25 });
      const [start, left, right, join] = resolved.steps;
      assert.deepEqual(start?.with, { value: 'hello', sleepMs: 0 });
      assert.deepEqual(left?.with, { value: 'left of ${{ steps.start.outputs.value }}', sleepMs: 25 });
      assert.equal(right?.queue, 'gpu');
      assert.equal(left?.queue, 'cpu');
      assert.deepEqual(right?.retry, {
        maximumAttempts: 5,
        initialInterval: '1s',
        backoffCoefficient: 2,
        maximumInterval: '1m',
        nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
      });
      assert.equal(left?.timeout, '10m');
      assert.deepEqual([start?.cache, join?.cache], [false, true]);
      assert.deepEqual(join?.needs, ['left', 'right']);
      assert.deepEqual(executionLevels(resolved.steps), [['start'], ['left', 'right'], ['join']]);
    });

    it('a sweep: the matrix expanded in order (first entry slowest), excludes dropped, trials and settings for the workflow', async () => {
      const { resolved } = await loadPipelineFile(`${FIXTURES}/sweep.yaml`);
      const [sweep, after, report] = resolved.steps;
      assert.deepEqual(sweep?.sweep, {
        trials: [
          { index: 0, matrix: { score: 0.5, delayMs: 0 } },
          { index: 1, matrix: { score: 0.5, delayMs: 10 } },
          { index: 2, matrix: { score: 0.9, delayMs: 0 } },
          { index: 3, matrix: { score: 0.9, delayMs: 10 } },
          { index: 4, matrix: { score: 0.7, delayMs: 0 } },
        ],
        maxParallel: 2,
        select: { metric: 'value', goal: 'max' },
        minSuccess: 5,
      });
      assert.deepEqual(sweep?.with, { value: '${{ matrix.score }}', sleepMs: '${{ matrix.delayMs }}' });
      assert.deepEqual(after?.with, { value: '${{ steps.sweep.outputs.value }}', sleepMs: 0 });
      assert.equal(after?.sweep, undefined);
      assert.deepEqual(report?.with, { value: '${{ steps.sweep.outputs.trials }}', sleepMs: 0 });
    });

    it('gives the same spec hash for the same request and another for another --set', async () => {
      const text = await readFile(`${FIXTURES}/diamond.yaml`, 'utf8');
      const a = loadPipelineText(text, 'a.yaml').resolved.specHash;
      const b = loadPipelineText(text, 'b.yaml', ['sleepMs=10']).resolved.specHash;
      const c = loadPipelineText(text, 'a.yaml', ['sleepMs=11']).resolved.specHash;
      assert.match(a, /^[a-f0-9]{64}$/);
      assert.equal(a, b, 'setting a param to its default does not change the run');
      assert.notEqual(a, c);
    });

    it('gives the same spec hash regardless of key order in the file', () => {
      const one = 'apiVersion: mlp/v1\nname: p\nsteps:\n  - id: a\n    uses: noop\n    with: { value: 1, sleepMs: 2 }\n';
      const two = 'name: p\napiVersion: mlp/v1\nsteps:\n  - uses: noop\n    with: { sleepMs: 2, value: 1 }\n    id: a\n';
      assert.equal(loadPipelineText(one, 'one.yaml').resolved.specHash, loadPipelineText(two, 'two.yaml').resolved.specHash);
    });
  });

  describe('shipped pipelines', () => {
    it('pneumonia-vgg19.yaml validates and holds the notebook plan', async () => {
      const { resolved, spec } = await loadPipelineFile('pipelines/pneumonia-vgg19.yaml');
      assert.deepEqual(
        resolved.steps.map((step) => step.id),
        ['download', 'subset-partial', 'train-partial', 'subset-full', 'train-full', 'evaluate', 'publish'],
      );
      const trainPartial = resolved.steps.find((step) => step.id === 'train-partial');
      assert.deepEqual(trainPartial?.with['model'], {
        backbone: 'vgg19',
        weights: 'keras:vgg19',
        featureLayer: 'block5_pool',
        inputSize: 300,
        preprocessing: 'caffe',
        trainable: false,
        head: [
          { type: 'flatten' },
          { type: 'dense', units: 64, activation: 'relu' },
          { type: 'dense', units: 128, activation: 'relu' },
          { type: 'dense', units: 256, activation: 'relu' },
          { type: 'dense', units: 128, activation: 'relu' },
          { type: 'dense', units: 2, activation: 'softmax' },
        ],
      });
      // The seed's plan, done properly: a learning-rate sweep on the subset, the winner's rate for the full retrain.
      assert.deepEqual(trainPartial?.with['optimizer'], { name: 'rmsprop', learningRate: '${{ matrix.learningRate }}' });
      assert.deepEqual(trainPartial?.sweep?.trials.map((trial) => trial.matrix), [{ learningRate: 2e-5 }, { learningRate: 1e-4 }]);
      assert.deepEqual(trainPartial?.sweep?.select, { metric: 'valAuc', goal: 'max' });
      const trainFull = resolved.steps.find((step) => step.id === 'train-full');
      assert.deepEqual(trainFull?.with['optimizer'], { name: 'rmsprop', learningRate: '${{ steps.train-partial.outputs.selectedTrial.matrix.learningRate }}' });
      assert.equal(trainFull?.with['warmStartFrom'], '${{ steps.train-partial.outputs.model }}');
      assert.equal(trainPartial?.queue, 'gpu');
      const fractions = (id: string): unknown => resolved.steps.find((step) => step.id === id)?.with['fractions'];
      assert.deepEqual(fractions('subset-partial'), { train: 0.2, val: 0.05, test: 0.2 });
      assert.deepEqual(fractions('subset-full'), { train: 0.9, val: 0.1, test: 1 });
      assert.equal(resolved.steps.find((step) => step.id === 'evaluate')?.with['threshold'], 0.6);
      assert.equal(
        resolved.params['dataset'],
        'https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded',
      );
      assert.deepEqual(spec.schedule, { cron: '0 2 * * 0', timeZone: 'UTC', overlap: 'skip' });
    });

    it('turns the inherited cache off for an unpinned download, says why, and keeps it for the steps after it', async () => {
      const { resolved } = await loadPipelineFile('pipelines/demo.yaml');
      const download = resolved.steps.find((step) => step.id === 'download');
      assert.equal(download?.cache, false);
      assert.match(download?.cacheOffReason ?? '', /pin its sha256/);
      assert.equal(resolved.steps.find((step) => step.id === 'subset')?.cache, true);
      const pinned = loadPipelineText(
        ['apiVersion: mlp/v1', 'name: pinned', 'steps:', '  - id: fetch', '    uses: download', '    cache: true', '    with:',
          '      url: https://example.org/ChestXRay2017.zip', `      sha256: ${'a'.repeat(64)}`].join('\n'),
        'pinned.yaml',
      );
      assert.equal(pinned.resolved.steps[0]?.cache, true);
      assert.equal(pinned.resolved.steps[0]?.cacheOffReason, undefined);
    });

    it('demo.yaml validates and runs on the cpu queue only', async () => {
      const { resolved } = await loadPipelineFile('pipelines/demo.yaml');
      assert.deepEqual(new Set(resolved.steps.map((step) => step.queue)), new Set(['cpu']));
      const train = resolved.steps.find((step) => step.id === 'train');
      assert.equal(train?.with['epochs'], 3);
      assert.equal(train?.sweep?.trials.length, 2, 'a small sweep keeps the demo fast');
    });

    it('plan of pneumonia-vgg19.yaml orders steps in levels and lists cache-key inputs', async () => {
      const { resolved, spec } = await loadPipelineFile('pipelines/pneumonia-vgg19.yaml');
      const plan = planPipeline(resolved, spec.schedule);
      assert.deepEqual(plan.levels, [['download'], ['subset-partial', 'subset-full'], ['train-partial'], ['train-full'], ['evaluate'], ['publish']]);
      const trainFull = plan.steps.find((step) => step.id === 'train-full');
      assert.deepEqual(trainFull?.cacheKey?.artifactInputs, ['trainManifest', 'valManifest', 'warmStartFrom']);
      assert.equal(plan.steps.find((step) => step.id === 'publish')?.cacheKey, undefined);
    });
  });

  it('pipelines/pipeline.schema.json is up to date with the zod schema (run `npm run schema`)', async () => {
    assert.equal(await readFile('pipelines/pipeline.schema.json', 'utf8'), pipelineJsonSchemaText());
  });
});
