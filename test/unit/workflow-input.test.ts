import assert from 'node:assert/strict';
import { loadPipelineText } from '../../client/pipelines/pipeline-file.ts';
import { specHashOf } from '../../client/pipelines/pipeline-file.ts';
import { NON_RETRYABLE_ERROR_TYPES } from '../../common/errors.ts';
import { compactWorkflowInput, expandWorkflowInput } from '../../common/workflow-input.ts';
import { wideDagYaml } from '../helpers/scale-pipelines.ts';

const yaml = `apiVersion: mlp/v1
name: retry-types
defaults: { retry: { maximumAttempts: 4 } }
steps:
  - { id: a, uses: noop, with: { value: 1 } }
  - { id: b, uses: noop, needs: [a], with: { value: 2 }, retry: { nonRetryableErrorTypes: [QuotaError, ${NON_RETRYABLE_ERROR_TYPES[0]}] } }
`;

describe("runPipeline's input: the resolved spec without the built-in retry types every step repeats", () => {
  it('leaves the built-ins out of each step and keeps a step\'s own types', () => {
    const { resolved } = loadPipelineText(yaml, 'p.yaml');
    const input = compactWorkflowInput(resolved);
    assert.equal(input.steps[0]?.retry.nonRetryableErrorTypes, undefined);
    assert.deepEqual(input.steps[1]?.retry.nonRetryableErrorTypes, ['QuotaError']);
    assert.equal(input.steps[1]?.retry.maximumAttempts, 4, 'the rest of the policy travels');
  });

  it('reads back as the resolved spec it came from, so a recorded run hashes as it was submitted (mlp reproduce, rerun)', () => {
    const { resolved } = loadPipelineText(yaml, 'p.yaml');
    const recorded = expandWorkflowInput(compactWorkflowInput(resolved));
    assert.deepEqual(recorded, resolved);
    const { specHash, ...unhashed } = recorded;
    assert.equal(specHashOf(unhashed), specHash);
  });

  it('reads an input recorded before the built-ins were left out unchanged', () => {
    const { resolved } = loadPipelineText(yaml, 'p.yaml');
    assert.deepEqual(expandWorkflowInput(resolved), resolved);
  });

  it('keeps a list not in the resolver\'s order as it is, losing nothing', () => {
    const { resolved } = loadPipelineText(yaml, 'p.yaml');
    const reordered = { ...resolved, steps: resolved.steps.map((step) => ({ ...step, retry: { ...step.retry, nonRetryableErrorTypes: ['QuotaError', ...NON_RETRYABLE_ERROR_TYPES] } })) };
    assert.deepEqual(compactWorkflowInput(reordered), reordered);
  });

  it('makes a wide pipeline\'s input a third of the resolved spec (the server caps it at 2 MB)', () => {
    const { resolved } = loadPipelineText(wideDagYaml('wide', 1_000), 'p.yaml');
    const full = JSON.stringify(resolved).length;
    const sent = JSON.stringify(compactWorkflowInput(resolved)).length;
    assert.ok(sent < full / 2.5, `${sent} bytes sent for a ${full}-byte spec`);
  });
});
