import assert from 'node:assert/strict';
import { pipelineStartOptions } from '../../client/pipelines/pipeline-start.ts';
import { checkRefreshedSteps } from '../../client/pipelines/pipeline-submit.ts';
import { PipelineSpecError } from '../../common/errors.ts';
import { testPipeline, testStep } from '../helpers/recording-steps.ts';

const spec = testPipeline('chain', [testStep('a', 'noop'), testStep('b', 'noop', { needs: ['a'] })]);

describe('mlp run --refresh', () => {
  it('sends the refreshed step ids in the workflow input, and a plain run the same input as before refresh existed', () => {
    assert.deepEqual(pipelineStartOptions(spec, { workflowId: 'w', taskQueuePrefix: 'q' }).args, [spec, { taskQueuePrefix: 'q' }]);
    assert.deepEqual(pipelineStartOptions(spec, { workflowId: 'w', taskQueuePrefix: 'q', refresh: [] }).args, [spec, { taskQueuePrefix: 'q' }]);
    assert.deepEqual(pipelineStartOptions(spec, { workflowId: 'w', taskQueuePrefix: 'q', refresh: ['b'] }).args, [spec, { taskQueuePrefix: 'q', refresh: ['b'] }]);
  });

  it('refuses ids the pipeline does not have, naming them and the pipeline steps', () => {
    assert.doesNotThrow(() => checkRefreshedSteps(spec, ['a', 'b']));
    assert.throws(() => checkRefreshedSteps(spec, ['a', 'c', 'd']), (error: unknown) => {
      assert.ok(error instanceof PipelineSpecError);
      assert.equal(error.message, '--refresh: pipeline "chain" has no step "c", "d" (its steps: a, b)');
      return true;
    });
  });
});
