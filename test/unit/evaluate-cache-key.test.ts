import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { evaluateStep } from '../../common/step-kinds/evaluate.ts';
import { computeStepCacheKey } from '../../activities/step-cache.ts';
import { ObjectStore } from '../../activities/object-store.ts';
import { loadPipelineText } from '../../client/pipelines/pipeline-file.ts';

/**
 * The cache key of an evaluate step hashes its resolved `with:` (artifacts aside) into the
 * `params` part. Defaults the client writes into the resolved spec are part of it, so a default
 * added to evaluate's schema would change the key of every step written before it. These pins
 * were taken from the keys such steps had; a change here means cached evaluations stop hitting.
 */

const DEMO = fileURLToPath(new URL('../../pipelines/demo.yaml', import.meta.url));
// Artifacts are removed below, so the store is never asked for anything.
const ARTIFACT_INPUTS: readonly string[] = evaluateStep.artifactInputs;
const unusedStore = new ObjectStore({ endpoint: 'http://127.0.0.1:1', region: 'us-east-1', bucket: 'unused', accessKeyId: 'x', secretAccessKey: 'y' });

/**
 * The params part of the key of step `stepId` of the pipeline `text` as the client resolves it
 * (references stay unresolved here; the workflow fills them in before it computes the key).
 */
async function paramsPart(text: string, stepId: string): Promise<string> {
  const { resolved } = loadPipelineText(text, 'pipeline.yaml');
  const step = resolved.steps.find((candidate) => candidate.id === stepId);
  assert.ok(step, `step ${stepId} resolved`);
  const inputs = Object.fromEntries(Object.entries(step.with).filter(([field]) => !ARTIFACT_INPUTS.includes(field)));
  const { parts } = await computeStepCacheKey(unusedStore, evaluateStep, { uses: 'evaluate', inputs }, { code: 'c'.repeat(64), engine: 'wasm' });
  return parts.params;
}

const WITHOUT_FEATURE_ENGINE = `
apiVersion: mlp/v1
name: evaluate-only
steps:
  - id: evaluate
    uses: evaluate
    with:
      model: models/m/1/model.json
      testManifest: datasets/d/test.json
      valManifest: datasets/d/val.json
      threshold: auto
`;

describe('evaluate cache keys', () => {
  it('keeps the key of an evaluate step that leaves featureEngine out', async () => {
    assert.equal(await paramsPart(WITHOUT_FEATURE_ENGINE, 'evaluate'), 'e76a4195f81ccf56314c1dfb807efc649387875b70ec88d13886ff57e1f58a79');
  });

  it('keeps the key of an evaluate step with references that leaves featureEngine out', async () => {
    const demo = await readFile(DEMO, 'utf8');
    const withoutFeatureEngine = demo.replace(/(threshold: auto\n)\s+featureEngine: \$\{\{ params\.featureEngine \}\}\n/, '$1');
    assert.notEqual(withoutFeatureEngine, demo, 'the demo names featureEngine under evaluate');
    assert.equal(await paramsPart(withoutFeatureEngine, 'evaluate'), 'fe94bbe743d2be20a4a53450ddb29c9d99afbb88bf221f1148bcb0a2361c97bf');
  });

  it('runs a step that leaves featureEngine out with the default of the schema, auto', () => {
    const { resolved } = loadPipelineText(WITHOUT_FEATURE_ENGINE, 'pipeline.yaml');
    const step = resolved.steps.find((candidate) => candidate.id === 'evaluate');
    assert.ok(step);
    assert.equal(Object.hasOwn(step.with, 'featureEngine'), false, 'not written into the resolved pipeline');
    assert.equal(evaluateStep.input.parse(step.with).featureEngine, 'auto', 'what the activity parses');
  });

  it('writes no adaptThresholdToShift into a step that leaves it out (the pinned keys above hold), and keys a step that sets it apart', async () => {
    const { resolved } = loadPipelineText(WITHOUT_FEATURE_ENGINE, 'pipeline.yaml');
    const step = resolved.steps.find((candidate) => candidate.id === 'evaluate');
    assert.ok(step);
    assert.equal(Object.hasOwn(step.with, 'adaptThresholdToShift'), false, 'not written into the resolved pipeline');
    const optedOut = WITHOUT_FEATURE_ENGINE.replace('threshold: auto\n', 'threshold: auto\n      adaptThresholdToShift: false\n');
    assert.notEqual(optedOut, WITHOUT_FEATURE_ENGINE);
    // A different decision on a shifted test split: a cached evaluation without the field must not answer it.
    assert.notEqual(await paramsPart(optedOut, 'evaluate'), await paramsPart(WITHOUT_FEATURE_ENGINE, 'evaluate'));
  });

  it("keeps the key of the demo's evaluate step, which names featureEngine: auto", async () => {
    assert.equal(await paramsPart(await readFile(DEMO, 'utf8'), 'evaluate'), '805a9619330f8835e14c8e50cd6f78aa13004d24def1f643547db9ec5705f465');
  });
});
