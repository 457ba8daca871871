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

  /** A run and the child workflows it starts for its own steps. */
  const runParts = new Set(['runPipeline', 'runSweepTrial', 'runStepGroup']);

  it('pins runs, sweep trials and step groups to the build they started on', () => {
    assert.equal(declared(workflows.runPipeline), 'PINNED');
    assert.equal(declared(workflows.runSweepTrial), 'PINNED');
    assert.equal(declared(workflows.runStepGroup), 'PINNED');
  });

  it('lets every other workflow (the CLI helpers) auto-upgrade, and leaves none undecided', () => {
    const behaviors = Object.entries(workflows)
      .filter(([, value]) => typeof value === 'function')
      .map(([name, fn]) => [name, declared(fn)] as const);
    assert.ok(behaviors.length >= 10, `${behaviors.length} workflows found`);
    for (const [name, behavior] of behaviors) {
      assert.equal(behavior, runParts.has(name) ? 'PINNED' : 'AUTO_UPGRADE', name);
    }
  });
});
