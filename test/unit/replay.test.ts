import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { bundleWorkflows } from '../../worker/workflow-bundle.ts';
import { progressFromHistory } from '../../client/runs/run-history.ts';
import { historyFromProtoJson } from '../helpers/history-json.ts';
import { projectWorkflowBundle } from '../helpers/pipeline-workers.ts';

const historiesDir = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
const changedWorkflow = fileURLToPath(new URL('../fixtures/workflows/run-pipeline-changed.ts', import.meta.url));

/** Saved histories, recorded by test/fixtures/histories/record.ts. */
const histories = readdirSync(historiesDir)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((name) => ({ name, history: historyFromProtoJson(JSON.parse(readFileSync(`${historiesDir}${name}`, 'utf8'))) }));

/**
 * The workflow id a history was recorded under, where the commands depend on it: a sweep's child
 * workflow ids are `<workflowId>/<stepId>#<n>`. The history holds it only in those ids.
 */
function recordedWorkflowId(history: (typeof histories)[number]['history']): string | undefined {
  const child = (history.events ?? []).find((event) => event.startChildWorkflowExecutionInitiatedEventAttributes)?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
  return child?.slice(0, child.lastIndexOf('/'));
}

describe('replay of saved runPipeline histories', function () {
  this.timeout(120_000);

  it('has saved histories of the pneumonia pipeline shape (fresh, cached, failing, notifying, rerun), of the real pneumonia-vgg19.yaml, of sweeps, and of the scale paths (bound, step group, foreach)', () => {
    assert.deepEqual(
      histories.map(({ name }) => name),
      [
        'pneumonia-shape-cached.json',
        'pneumonia-shape-failing.json',
        'pneumonia-shape-notify.json',
        'pneumonia-shape-rerun.json',
        'pneumonia-shape.json',
        'pneumonia-vgg19.json',
        'scale-group.json',
        'scale.json',
        'sweep-trial.json',
        'sweep.json',
      ],
    );
  });

  it('the sweep history holds 4 trials as activities and 11 as child workflows, and mlp show rebuilds every trial from it', () => {
    const sweep = histories.find(({ name }) => name === 'sweep.json');
    assert.ok(sweep);
    const events = sweep.history.events ?? [];
    const trialActivities = events.flatMap((event) => event.activityTaskScheduledEventAttributes?.activityId ?? []).filter((id) => /^small#\d+$/.test(id));
    assert.deepEqual(trialActivities.sort(), ['small#0', 'small#1', 'small#2', 'small#3']);
    const children = events.flatMap((event) => event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? []);
    assert.equal(children.length, 11);
    assert.ok(children.every((id) => /\/large#\d+$/.test(id)));
    const view = progressFromHistory(sweep.history, recordedWorkflowId(sweep.history) ?? '');
    const small = view.steps.find((step) => step.id === 'small');
    const large = view.steps.find((step) => step.id === 'large');
    assert.equal(small?.state, 'succeeded');
    assert.deepEqual(small?.trials?.map((trial) => [trial.index, trial.state, trial.metric, trial.selected === true]), [
      [0, 'succeeded', 0.25, false],
      [1, 'succeeded', 0.25, false],
      [2, 'succeeded', 0.75, true],
      [3, 'succeeded', 0.75, false],
    ]);
    assert.equal(large?.trials?.length, 11);
    assert.deepEqual(large?.trials?.find((trial) => trial.selected === true)?.matrix, { score: 1, half: 0 }, 'the lowest score; ties go to the lowest index');
  });

  it('the notify history told its failure target once, after the run\'s end, and mlp show rebuilds that from it', () => {
    const notify = histories.find(({ name }) => name === 'pneumonia-shape-notify.json');
    assert.ok(notify);
    const events = notify.history.events ?? [];
    const activities = events.flatMap((event) => event.activityTaskScheduledEventAttributes?.activityId ?? []);
    assert.deepEqual(activities.filter((id) => id.startsWith('notify/')), ['notify/0'], 'the success target is not due for a failed run');
    assert.equal(activities.at(-1), 'notify/0', 'notified after every step');
    const view = progressFromHistory(notify.history, '');
    assert.equal(view.state, 'failed');
    assert.equal(view.failedStep, 'train-full');
    assert.deepEqual(view.notifications?.map(({ index, state }) => ({ index, state })), [{ index: 0, state: 'sent' }]);
    // The histories recorded before notify: issue no notification command when replayed (the loop below).
    for (const { name, history } of histories.filter((saved) => saved !== notify)) {
      const ids = (history.events ?? []).flatMap((event) => event.activityTaskScheduledEventAttributes?.activityId ?? []);
      assert.ok(!ids.some((id) => id.startsWith('notify/')), name);
    }
  });

  for (const { name, history } of histories) {
    it(`replays ${name} against the current workflow code without non-determinism`, async () => {
      await Worker.runReplayHistory({ workflowBundle: await projectWorkflowBundle() }, history, recordedWorkflowId(history) ?? name);
    });
  }

  it('fails the replay when the workflow code issues different commands than the history holds', async () => {
    const first = histories[0];
    assert.ok(first);
    const workflowBundle = await bundleWorkflows(changedWorkflow);
    await assert.rejects(Worker.runReplayHistory({ workflowBundle }, first.history, first.name), { name: 'DeterminismViolationError' });
  });
});
