import assert from 'node:assert/strict';
import * as workflows from '../../workflows/index.ts';
import '../../workflows/versioned.ts';

/**
 * What a versioned worker registers (workflows/versioned.ts): every workflow of index.ts with a
 * versioning behavior of its own, a run and its trials pinned to their build, helpers free to
 * move to the newest one. A workflow added to index.ts without a decision fails here.
 */
describe('versioning behavior of every registered workflow', () => {
  const declared = (fn: unknown): unknown =>
    (fn as { workflowDefinitionOptions?: { versioningBehavior?: unknown } }).workflowDefinitionOptions?.versioningBehavior;

  it('pins runs and sweep trials to the build they started on', () => {
    assert.equal(declared(workflows.runPipeline), 'PINNED');
    assert.equal(declared(workflows.runSweepTrial), 'PINNED');
  });

  it('lets every other workflow (the CLI helpers) auto-upgrade, and leaves none undecided', () => {
    const behaviors = Object.entries(workflows)
      .filter(([, value]) => typeof value === 'function')
      .map(([name, fn]) => [name, declared(fn)] as const);
    assert.ok(behaviors.length >= 10, `${behaviors.length} workflows found`);
    for (const [name, behavior] of behaviors) {
      assert.equal(behavior, name === 'runPipeline' || name === 'runSweepTrial' ? 'PINNED' : 'AUTO_UPGRADE', name);
    }
  });
});
