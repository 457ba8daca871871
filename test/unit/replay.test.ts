import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { bundleWorkflows } from '../../worker/workflow-bundle.ts';
import { historyFromProtoJson } from '../helpers/history-json.ts';
import { projectWorkflowBundle } from '../helpers/pipeline-workers.ts';

const historiesDir = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
const changedWorkflow = fileURLToPath(new URL('../fixtures/workflows/run-pipeline-changed.ts', import.meta.url));

/** Saved histories, recorded by test/fixtures/histories/record.ts. */
const histories = readdirSync(historiesDir)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((name) => ({ name, history: historyFromProtoJson(JSON.parse(readFileSync(`${historiesDir}${name}`, 'utf8'))) }));

describe('replay of saved runPipeline histories', function () {
  this.timeout(120_000);

  it('has saved histories of the pneumonia pipeline shape (fresh, cached, failing, rerun) and of the real pneumonia-vgg19.yaml', () => {
    assert.deepEqual(
      histories.map(({ name }) => name),
      ['pneumonia-shape-cached.json', 'pneumonia-shape-failing.json', 'pneumonia-shape-rerun.json', 'pneumonia-shape.json', 'pneumonia-vgg19.json'],
    );
  });

  for (const { name, history } of histories) {
    it(`replays ${name} against the current workflow code without non-determinism`, async () => {
      await Worker.runReplayHistory({ workflowBundle: await projectWorkflowBundle() }, history, name);
    });
  }

  it('fails the replay when the workflow code issues different commands than the history holds', async () => {
    const first = histories[0];
    assert.ok(first);
    const workflowBundle = await bundleWorkflows(changedWorkflow);
    await assert.rejects(Worker.runReplayHistory({ workflowBundle }, first.history, first.name), { name: 'DeterminismViolationError' });
  });
});
