import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

/**
 * The floors inside activities/ (eslint.config.js ACTIVITY_FLOORS, FEATURE_FLOORS): a module may
 * import its own floor and those below, never one above. Linted as if the code stood at `file`.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const eslint = new ESLint({ cwd: ROOT });

async function floorViolations(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return (result?.messages ?? []).filter((message) => message.ruleId === 'import-x/no-restricted-paths').map((message) => message.message);
}

describe('activities/ floors', function () {
  this.timeout(60_000);

  it('rejects an import from a floor above, whatever the depth of the importer and type-only too', async () => {
    const cases: [string, string][] = [
      ['activities/data/probe.ts', "import type { TrainOptions } from '../training/trainer.ts';\nexport type T = TrainOptions;\n"],
      ['activities/model-io/probe.ts', "import { KeyedTurns } from '../features/keyed-turns.ts';\nexport const k = KeyedTurns;\n"],
      ['activities/features/onnx/probe.ts', "import { selectFeatureEngine } from '../feature-engine.ts';\nexport const s = selectFeatureEngine;\n"],
      ['activities/features/onnx/probe.ts', "import type { ActivityDeps } from '../../deps.ts';\nexport type D = ActivityDeps;\n"],
      ['activities/engine/probe.ts', "import { overlapped } from '../features/overlapped.ts';\nexport const o = overlapped;\n"],
    ];
    for (const [file, code] of cases) {
      const violations = await floorViolations(file, code);
      assert.equal(violations.length, 1, `${file}: ${code}`);
      assert.match(violations[0] ?? '', /may not import/);
    }
  });

  it('accepts imports of the own floor and the floors below', async () => {
    const cases: [string, string][] = [
      ['activities/training/probe.ts', "import { selectFeatureEngine } from '../features/feature-engine.ts';\nimport { foldedInference } from '../model-io/folded-inference.ts';\nexport const s = [selectFeatureEngine, foldedInference];\n"],
      ['activities/features/onnx/probe.ts', "import type { PoolingKind } from '../pooling.ts';\nimport { buildBackboneGraph } from './backbone-graph.ts';\nexport const b = buildBackboneGraph;\nexport type P = PoolingKind;\n"],
      ['activities/features/probe.ts', "import { startOrtExtractor } from './onnx/ort-extractor.ts';\nimport { selectEngine } from '../engine/engine.ts';\nexport const s = [startOrtExtractor, selectEngine];\n"],
    ];
    for (const [file, code] of cases) assert.deepEqual(await floorViolations(file, code), [], `${file}: ${code}`);
  });
});
