import assert from 'node:assert/strict';
import { ObjectStore } from '../../activities/object-store.ts';
import { loadPipelineFile, loadPipelineText } from '../../client/pipelines/pipeline-file.ts';
import { submitPipeline } from '../../client/pipelines/pipeline-submit.ts';
import { checkRunKey, unsafeObjectKeyReason } from '../../common/object-keys.ts';
import { ConfigError, PipelineSpecError, PipelineValidationError } from '../../common/errors.ts';

/**
 * The bad-input catalogue, spec part (test/fixtures/bad/README.md lists every case): each bad
 * pipeline file fails in the client, before anything is submitted, with the error type and a
 * message naming the file, the line and column, and the field.
 */

const BAD = 'test/fixtures/bad/spec';

interface BadFile {
  title: string;
  file: string;
  type: new (...args: never[]) => PipelineSpecError;
  /** The whole first line of the message. */
  message: string | RegExp;
}

const cases: BadFile[] = [
  {
    title: 'a YAML alias bomb ("billion laughs"), at its first alias',
    file: 'alias-bomb.yaml',
    type: PipelineValidationError,
    message: `${BAD}/alias-bomb.yaml:2:8: YAML: aliases expand too often (more than 100 times): refusing a file that would blow up in memory`,
  },
  {
    title: 'a missing file, naming it (no raw ENOENT)',
    file: 'no-such-pipeline.yaml',
    type: PipelineSpecError,
    message: `Cannot read pipeline file ${BAD}/no-such-pipeline.yaml: no such file`,
  },
  {
    title: 'a folder given as the pipeline file',
    file: 'a-folder.yaml',
    type: PipelineSpecError,
    message: `Cannot read pipeline file ${BAD}/a-folder.yaml: it is a directory, not a YAML file`,
  },
  {
    title: 'a binary file, at its first NUL byte',
    file: 'binary.yaml',
    type: PipelineValidationError,
    message: `${BAD}/binary.yaml:2:5: not a UTF-8 text file (byte 0x00 at offset 23): a pipeline file is YAML text`,
  },
  {
    title: 'a Latin-1 file, at the byte that is not UTF-8',
    file: 'latin1.yaml',
    type: PipelineValidationError,
    message: `${BAD}/latin1.yaml:3:15: not a UTF-8 text file (byte 0xf6 at offset 44): a pipeline file is YAML text`,
  },
  {
    title: 'an empty file',
    file: 'empty.yaml',
    type: PipelineValidationError,
    message: `${BAD}/empty.yaml:1:1: expected a pipeline (a mapping with apiVersion, name and steps), found an empty document`,
  },
  {
    title: 'a file holding a list instead of a pipeline',
    file: 'top-level-list.yaml',
    type: PipelineValidationError,
    message: `${BAD}/top-level-list.yaml:1:1: expected a pipeline (a mapping with apiVersion, name and steps), found a list`,
  },
  {
    title: 'tabs as indentation',
    file: 'yaml-tab-indent.yaml',
    type: PipelineValidationError,
    message: `${BAD}/yaml-tab-indent.yaml:4:1: YAML: Tabs are not allowed as indentation`,
  },
  {
    title: 'a key written twice (the second would silently win in a lax parser)',
    file: 'duplicate-key.yaml',
    type: PipelineValidationError,
    message: `${BAD}/duplicate-key.yaml:7:5: YAML: Map keys must be unique`,
  },
  {
    title: 'an expression without its closing braces',
    file: 'unclosed-expression.yaml',
    type: PipelineValidationError,
    message: `${BAD}/unclosed-expression.yaml:8:20: Invalid expression in "\${{ params.epochs": "\${{" without a closing "}}"`,
  },
  {
    title: 'a fraction above 1, at the field',
    file: 'subset-fraction-out-of-range.yaml',
    type: PipelineValidationError,
    message: `${BAD}/subset-fraction-out-of-range.yaml:13:27: steps[1].with.fractions.train: Too big: expected number to be <=1`,
  },
  {
    title: 'train and val fractions that overlap (both come out of the train split)',
    file: 'subset-fractions-overlap.yaml',
    type: PipelineValidationError,
    message: `${BAD}/subset-fractions-overlap.yaml:12:18: steps[1].with.fractions: train + val draw 1.1 of the train split: at most 1, the splits are disjoint`,
  },
  {
    title: 'a pipeline name that would climb out of runs/ in object keys',
    file: 'bad-pipeline-name.yaml',
    type: PipelineValidationError,
    message: `${BAD}/bad-pipeline-name.yaml:2:7: name: expected lower-case letters, digits and dashes (it prefixes workflow ids)`,
  },
  {
    title: 'a step id that would climb out of runs/<workflowId>/ in object keys',
    file: 'step-id-path.yaml',
    type: PipelineValidationError,
    message: `${BAD}/step-id-path.yaml:4:9: steps[0].id: expected letters, digits, _ and -, starting with a letter or _`,
  },
  {
    title: 'a run step whose code folder does not exist, at with.code',
    file: 'run-code-missing.yaml',
    type: PipelineValidationError,
    message: `${BAD}/run-code-missing.yaml:7:13: code "./no-such-folder": no such folder (looked for ${BAD}/no-such-folder)`,
  },
  {
    title: 'a run step whose code folder climbs out of the pipeline file’s folder',
    file: 'run-code-escapes.yaml',
    type: PipelineValidationError,
    message: `${BAD}/run-code-escapes.yaml:7:13: code "../../bad" leaves the pipeline file's folder: the code must be in it or below it`,
  },
  {
    title: 'a run step’s requirements outside its code folder',
    file: 'run-requirements-outside.yaml',
    type: PipelineValidationError,
    message: `${BAD}/run-requirements-outside.yaml:10:23: python.requirements "../run-code-missing.yaml" leaves the code folder: the requirements file must be inside it`,
  },
  {
    title: 'a reference to an output a run step does not declare, naming those it does',
    file: 'run-output-undeclared.yaml',
    type: PipelineValidationError,
    message: `${BAD}/run-output-undeclared.yaml:19:22: \${{ steps.fit.outputs.valPredictions }}: step "fit" (run) declares no output "valPredictions" (declared under with.outputs: model, predictions; always: metrics, artifacts)`,
  },
  {
    title: 'a run sweep selecting by a declared output (an object key, not a metric)',
    file: 'run-select-output.yaml',
    type: PipelineValidationError,
    message: `${BAD}/run-select-output.yaml:7:23: select.metric "model": run output "model" is not a number (numeric outputs: none; metrics: any name in metrics)`,
  },
];

describe('bad pipeline files (test/fixtures/bad/spec)', () => {
  for (const { title, file, type, message } of cases) {
    it(`refuses ${title}`, async () => {
      const error: unknown = await loadPipelineFile(`${BAD}/${file}`).then(
        () => assert.fail(`${file} loaded but must fail`),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof type, `${file}: expected ${type.name}, got ${String(error)}`);
      assert.equal(error.name, type.name, 'the exact class, as the CLI prints it');
      const first = error.message.split('\n')[0] ?? '';
      if (typeof message === 'string') assert.equal(first, message);
      else assert.match(first, message);
    });
  }

  it('refuses an alias bomb within a second, without expanding it in memory', () => {
    // 9 levels of 9 aliases: about 390 million leaves if expanded.
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level < 9; level += 1) {
      const name = String.fromCharCode(97 + level);
      const previous = String.fromCharCode(96 + level);
      levels.push(`${name}: &${name} [${Array.from({ length: 9 }, () => `*${previous}`).join(', ')}]`);
    }
    const started = performance.now();
    assert.throws(() => loadPipelineText(levels.join('\n'), 'inline.yaml'), { name: 'PipelineValidationError', message: /^inline\.yaml:2:\d+: YAML: aliases expand too often/ });
    assert.ok(performance.now() - started < 1_000);
  });

  it('still accepts the few aliases a real pipeline uses', () => {
    const text = [
      'apiVersion: mlp/v1',
      'name: aliases',
      'steps:',
      '  - id: a',
      '    uses: noop',
      '    retry: &retry { maximumAttempts: 2 }',
      '  - id: b',
      '    uses: noop',
      '    retry: *retry',
    ].join('\n');
    const { resolved } = loadPipelineText(text, 'aliases.yaml');
    assert.deepEqual(resolved.steps.map((step) => step.retry?.maximumAttempts), [2, 2]);
  });
});

describe('object keys built from names a user writes stay inside their prefix', () => {
  for (const [key, reason] of [
    ['../escape', 'it has a . or .. path segment'],
    ['runs/a/../../datasets/x', 'it has a . or .. path segment'],
    ['runs/./x', 'it has a . or .. path segment'],
    ['/etc/passwd', 'it is absolute (starts with /)'],
    ['runs//x', 'it has an empty path segment (//)'],
    ['runs\\..\\x', 'it contains a backslash'],
    ['runs/x\u0000y', 'it contains a control character'],
    ['', 'it is empty'],
  ] as const) {
    it(`refuses ${JSON.stringify(key)}: ${reason}`, () => {
      assert.equal(unsafeObjectKeyReason(key), reason);
    });
  }

  it('accepts the keys the steps write, including scheduled runs whose ids hold a timestamp', () => {
    for (const key of ['runs/demo-0123abcd/train/model/model.json', 'datasets/ab12/manifest.json', 'runs/nightly-2026-01-01T02:00:00Z/subset/', 'models/pneumonia/1/model.json']) {
      assert.equal(unsafeObjectKeyReason(key), undefined, key);
    }
  });

  it('the object store refuses an escaping key before any request is sent', async () => {
    // Port 9 (discard): were a request sent, it would fail with a connection error instead.
    const store = new ObjectStore({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', bucket: 'b', accessKeyId: 'k', secretAccessKey: 's' });
    for (const operation of [() => store.put('runs/x/../../y', 'data'), () => store.get('../y'), () => store.stat('/y'), () => store.putIfAbsent('a//b', 'data')]) {
      await assert.rejects(operation(), { name: 'ConfigError', message: /^Refusing object key '.*': it / });
    }
  });

  it('a run key (--run-key) must be one safe segment: .., / and spaces are refused before submitting', async () => {
    for (const runKey of ['../../datasets', 'a/b', '..', 'with space', '']) {
      assert.throws(() => checkRunKey(runKey), (error: unknown) => error instanceof ConfigError && error.message.startsWith(`Invalid run key '${runKey}'`));
    }
    for (const runKey of ['e2e', 'ci', '20260101T020000', 'nightly.1', 'a_b-c:d']) checkRunKey(runKey);
    // submitPipeline checks before it touches the client: a client that would throw on use proves it.
    const unusable = new Proxy({}, { get: () => assert.fail('the client was used') });
    await assert.rejects(
      submitPipeline(unusable as never, { name: 'demo', specHash: 'f'.repeat(64), steps: [] } as never, { runKey: '../x', taskQueuePrefix: 'q' }),
      { name: 'ConfigError' },
    );
  });
});
