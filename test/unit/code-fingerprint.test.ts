import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { STEP_KINDS } from '../../common/step-kinds/index.ts';
import { fingerprintModuleGraph, fingerprintStepKinds, lockedVersions, PROJECT_ROOT, runtimeImports } from '../../activities/code-fingerprint.ts';

/** A small project: a step that imports a helper, which imports common/ and an npm package. */
const FILES: Record<string, string> = {
  'package-lock.json': JSON.stringify({
    lockfileVersion: 3,
    packages: {
      '': { name: 'demo' },
      'node_modules/zod': { version: '4.6.7' },
      'node_modules/@scope/pkg': { version: '1.2.3' },
      'node_modules/other/node_modules/zod': { version: '3.0.0' },
    },
  }),
  'activities/steps/train.ts': [
    "import { z } from 'zod';",
    "import { fit } from '../training/fit.ts';",
    "import type { Unused } from '../training/types-only.ts';",
    '// import { nothing } from "./commented-out.ts";',
    'export const train = () => fit(z);',
  ].join('\n'),
  'activities/training/fit.ts': [
    "import { readFile } from 'node:fs/promises';",
    "import {\n  type Shape,\n  round,\n} from '../../common/numbers.ts';",
    "export { helper } from './helper.ts';",
    "const scoped = () => import('@scope/pkg/sub');",
    'export const fit = (value: unknown) => [readFile, round, scoped, value];',
  ].join('\n'),
  'activities/training/helper.ts': 'export const helper = 1;\n',
  'activities/training/types-only.ts': 'export type Unused = string;\n',
  'common/numbers.ts': 'export type Shape = number[];\nexport const round = Math.round;\n',
  'activities/evaluation/unrelated.ts': 'export const unrelated = 1;\n',
};

describe('code fingerprints of step kinds', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'fingerprint-'));
    for (const [file, text] of Object.entries(FILES)) {
      await mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await writeFile(path.join(root, file), text);
    }
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const fingerprint = async (at = root) => fingerprintModuleGraph(at, 'activities/steps/train.ts', await lockedVersions(at));

  it('follows run-time imports transitively and records the locked version of each npm package', async () => {
    const graph = await fingerprint();
    assert.deepEqual(graph.files, ['activities/steps/train.ts', 'activities/training/fit.ts', 'activities/training/helper.ts', 'common/numbers.ts']);
    assert.deepEqual(graph.packages, ['@scope/pkg@1.2.3', 'zod@4.6.7']);
    assert.match(graph.fingerprint, /^[0-9a-f]{64}$/);
  });

  it('gives an identical copy of the code in another folder the same fingerprint', async () => {
    const copy = await mkdtemp(path.join(tmpdir(), 'fingerprint-copy-'));
    try {
      await cp(root, copy, { recursive: true });
      assert.equal((await fingerprint(copy)).fingerprint, (await fingerprint()).fingerprint);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('changes when a helper the step imports (even through common/) or a locked package version changes', async () => {
    const before = (await fingerprint()).fingerprint;
    await writeFile(path.join(root, 'common/numbers.ts'), 'export type Shape = number[];\nexport const round = Math.floor;\n');
    const helperChanged = (await fingerprint()).fingerprint;
    assert.notEqual(helperChanged, before);
    const lock = JSON.parse(await readFile(path.join(root, 'package-lock.json'), 'utf8'));
    lock.packages['node_modules/zod'].version = '4.6.8';
    await writeFile(path.join(root, 'package-lock.json'), JSON.stringify(lock));
    assert.notEqual((await fingerprint()).fingerprint, helperChanged);
  });

  it('stays the same when unrelated code, a type-only import or a nested copy of a package changes', async () => {
    const before = (await fingerprint()).fingerprint;
    await writeFile(path.join(root, 'activities/evaluation/unrelated.ts'), 'export const unrelated = 2;\n');
    await writeFile(path.join(root, 'activities/training/types-only.ts'), 'export type Unused = number;\n');
    const lock = JSON.parse(await readFile(path.join(root, 'package-lock.json'), 'utf8'));
    lock.packages['node_modules/other/node_modules/zod'].version = '3.0.1';
    await writeFile(path.join(root, 'package-lock.json'), JSON.stringify(lock));
    assert.equal((await fingerprint()).fingerprint, before);
  });

  it('fails naming the file when a relative import does not resolve (no fingerprint that silently leaves code out)', async () => {
    await rm(path.join(root, 'activities/training/helper.ts'));
    await assert.rejects(fingerprint(), { name: 'ConfigError', message: 'Cannot fingerprint step code: cannot read activities/training/helper.ts' });
  });

  it('reads dynamic imports, worker-thread entries and re-exports, but not type-only statements', () => {
    const source = [
      "import type { A } from './a.ts';",
      "export type { B } from './b.ts';",
      "export * from './c.ts';",
      "import './side-effect.ts';",
      "const worker = new Worker(new URL('./entry.mjs', import.meta.url));",
      "await import('@tensorflow/tfjs-layers');",
    ].join('\n');
    assert.deepEqual(runtimeImports(source), ['./c.ts', './side-effect.ts', '@tensorflow/tfjs-layers', './entry.mjs']);
  });

  it('does not take the URL of a folder (a project root) for a file the code loads', () => {
    const source = ["const ROOT = new URL('..', import.meta.url);", "const DIR = new URL('../activities/', import.meta.url);", "const ENTRY = new URL('../workflows/index.ts', import.meta.url);"].join('\n');
    assert.deepEqual(runtimeImports(source), ['../workflows/index.ts']);
  });

  it('fingerprints every step kind of this project, noop without the training code', async () => {
    const graphs = await fingerprintStepKinds(
      STEP_KINDS.map((kind) => kind.uses),
      PROJECT_ROOT,
    );
    assert.equal(new Set(Object.values(graphs).map((graph) => graph.fingerprint)).size, STEP_KINDS.length, 'one distinct fingerprint per kind');
    assert.ok(graphs.noop?.files.includes('activities/steps/define-step.ts'));
    assert.ok(!graphs.noop?.files.some((file) => file.startsWith('activities/training/')));
    assert.ok(graphs.train?.files.includes('activities/training/train-step.ts'));
    assert.ok(graphs.train?.packages.some((name) => name.startsWith('@tensorflow/tfjs-core@')));
  });

  it('follows the feature engine into its worker threads, so changed feature code misses the cache of train and evaluate', async () => {
    const graphs = await fingerprintStepKinds(['train', 'evaluate'], PROJECT_ROOT);
    // Reached only through `new URL('./…-entry.mjs', import.meta.url)` and the entry's import().
    const threadCode = ['activities/features/feature-worker.ts', 'activities/features/onnx/ort-worker.ts', 'activities/model-io/folded-inference.ts'];
    for (const uses of ['train', 'evaluate'] as const) {
      for (const file of threadCode) assert.ok(graphs[uses]?.files.includes(file), `${uses} covers ${file}`);
    }
  });
});
