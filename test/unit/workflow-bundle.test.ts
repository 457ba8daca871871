import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { bundleWorkflows } from '../../worker/workflow-bundle.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/workflows/${name}`, import.meta.url));

describe('workflow bundle', function () {
  this.timeout(120_000);

  it('bundles the project workflows for the sandbox', async () => {
    const bundle = await bundleWorkflows();
    assert.ok(bundle.code.includes('checkStorage'), 'bundle should contain the checkStorage workflow');
  });

  it('rejects a workflow that imports a Node built-in', async () => {
    await assert.rejects(bundleWorkflows(fixture('imports-node-builtin.ts')), /ERROR in node:fs/);
  });

  it('rejects a workflow that imports an activity module by value', async () => {
    await assert.rejects(bundleWorkflows(fixture('imports-activity-by-value.ts')), /imports the activity module activities\/storage-check\.ts by value/);
  });
});
