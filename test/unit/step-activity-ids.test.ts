import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseStepActivityId, STEP_CACHE_OPERATIONS, stepActivityId, stepCacheActivityId, trialActivityId } from '../../common/step-activity-ids.ts';
import { historyFromProtoJson } from '../helpers/history-json.ts';

describe('step activity ids (one codec for the workflow and the client)', () => {
  it('reads back the step of its own activity and of each cache operation', () => {
    assert.deepEqual(parseStepActivityId(stepActivityId('train-full')), { stepId: 'train-full' });
    for (const operation of STEP_CACHE_OPERATIONS) {
      assert.deepEqual(parseStepActivityId(stepCacheActivityId('train_2', operation)), { stepId: 'train_2', operation });
    }
  });

  it('reads back the step and trial of a sweep trial and of its cache operations', () => {
    assert.deepEqual(parseStepActivityId(trialActivityId('train-partial', 3)), { stepId: 'train-partial', trial: 3 });
    assert.deepEqual(parseStepActivityId(stepCacheActivityId(trialActivityId('train-partial', 12), 'cache-lookup')), {
      stepId: 'train-partial',
      trial: 12,
      operation: 'cache-lookup',
    });
  });

  it('names no step for ids it does not write', () => {
    assert.equal(parseStepActivityId(''), undefined);
    assert.equal(parseStepActivityId('train/cache-purge'), undefined);
    assert.equal(parseStepActivityId('/cache-key'), undefined);
    assert.equal(parseStepActivityId('train/cache-key/extra'), undefined);
  });

  it('parses every activity id of a saved run to one of its steps', () => {
    const json: unknown = JSON.parse(readFileSync(new URL('../fixtures/histories/pneumonia-shape-cached.json', import.meta.url), 'utf8'));
    const history = historyFromProtoJson(json);
    const ids = (history.events ?? []).flatMap((event) => event.activityTaskScheduledEventAttributes?.activityId ?? []);
    assert.ok(ids.some((id) => id.includes('/')) && ids.some((id) => !id.includes('/')), 'the run has step and cache activities');
    const stepIds = new Set(['download', 'subset', 'train-partial', 'train-full', 'evaluate', 'publish']);
    for (const id of ids) assert.ok(stepIds.has(parseStepActivityId(id)?.stepId ?? ''), `activity id ${id} names no step`);
  });
});
