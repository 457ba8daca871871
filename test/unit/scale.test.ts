import assert from 'node:assert/strict';
import { loadPipelineText } from '../../client/pipelines/pipeline-file.ts';
import { PipelineValidationError } from '../../common/errors.ts';
import { resolveItem, resolveStepOutputs } from '../../common/expressions.ts';
import { estimateRunHistory } from '../../common/pipeline-spec/capacity.ts';
import { MAX_PARALLEL_CEILING, TEMPORAL_LIMITS } from '../../common/scale-limits.ts';
import { childParallelism, planStepUnits } from '../../common/step-groups.ts';
import { Slots } from '../../workflows/slots.ts';
import { readFileSync } from 'node:fs';
import { progressFromHistory } from '../../client/runs/run-history.ts';
import { historyFromProtoJson } from '../helpers/history-json.ts';
import { chainYaml, foreachYaml, historyStats, wideDagYaml } from '../helpers/scale-pipelines.ts';

/** A promise and the function that settles it: work a test finishes when it wants. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((settle) => (resolve = settle));
  return { promise, resolve };
}

/** The problems `mlp validate` prints for a pipeline text, or [] when it is valid. */
function problems(yaml: string): string[] {
  try {
    loadPipelineText(yaml, 'p.yaml');
    return [];
  } catch (error) {
    if (!(error instanceof PipelineValidationError)) throw error;
    return error.problems.map((problem) => `${problem.line}: ${problem.message}`);
  }
}

describe('pipelines at scale', () => {
  describe('Slots: the bound on leaf work', () => {
    it('runs at most `limit` at once and starts the rest in the order they asked', async () => {
      const slots = new Slots(2);
      const gates = Array.from({ length: 5 }, deferred);
      const started: number[] = [];
      let running = 0;
      let peak = 0;
      const all = gates.map((gate, index) =>
        slots.run(1, async () => {
          started.push(index);
          running += 1;
          peak = Math.max(peak, running);
          await gate.promise;
          running -= 1;
        }),
      );
      assert.deepEqual(started, [0, 1], 'the first two start at once, synchronously');
      gates[1]?.resolve();
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(started, [0, 1, 2]);
      for (const gate of gates) gate.resolve();
      await Promise.all(all);
      assert.deepEqual(started, [0, 1, 2, 3, 4]);
      assert.equal(peak, 2);
      assert.equal(slots.used, 0);
    });

    it('a request for several slots waits for them, and later single requests wait behind it', async () => {
      const slots = new Slots(4);
      const first = deferred();
      const order: string[] = [];
      const a = slots.run(2, async () => {
        order.push('a');
        await first.promise;
      });
      const b = slots.run(3, async () => {
        order.push('b');
      });
      const c = slots.run(1, async () => {
        order.push('c');
      });
      assert.deepEqual(order, ['a'], 'b needs 3 of the 2 free; c waits behind b');
      first.resolve();
      await Promise.all([a, b, c]);
      assert.deepEqual(order, ['a', 'b', 'c']);
    });

    it('releases the slot of work that failed', async () => {
      const slots = new Slots(1);
      await assert.rejects(slots.run(1, () => Promise.reject(new Error('boom'))), /boom/);
      assert.equal(await slots.run(1, () => Promise.resolve(7)), 7);
    });

    it('lets everything start when enforcing is refused (runs recorded before the bound replay unchanged)', async () => {
      let asked = 0;
      const slots = new Slots(1, () => {
        asked += 1;
        return false;
      });
      const gate = deferred();
      const started: number[] = [];
      const all = [0, 1, 2].map((index) =>
        slots.run(1, async () => {
          started.push(index);
          await gate.promise;
        }),
      );
      assert.deepEqual(started, [0, 1, 2]);
      assert.equal(asked, 1, 'asked once, when the first request would have waited');
      gate.resolve();
      await Promise.all(all);
    });
  });

  it('the saved scale run (maxParallel 3, a group of 101 steps, two foreach steps) never had more than 3 pending, and mlp show rebuilds every step', () => {
    const history = historyFromProtoJson(JSON.parse(readFileSync(new URL('../fixtures/histories/scale.json', import.meta.url), 'utf8')));
    const stats = historyStats(history);
    assert.equal(stats.peakPending, 3, 'the bound was reached and held');
    assert.equal(stats.childWorkflows, 2, 'the group and the 12-item foreach');
    const shown = progressFromHistory(history, 'scale-history');
    assert.equal(shown.steps.length, 110);
    assert.deepEqual(shown.steps.filter((step) => step.state !== 'succeeded').map((step) => step.id), []);
  });

  describe('step units', () => {
    const step = (id: string, needs: string[] = []): { id: string; needs: string[] } => ({ id, needs });

    it('leaves a pipeline without a wide fan-out one unit per step, with its own needs', () => {
      const steps = [step('a'), step('b', ['a']), step('c', ['a']), step('d', ['b', 'c'])];
      assert.deepEqual(
        planStepUnits(steps),
        steps.map(({ id, needs }) => ({ id, steps: [id], needs, group: false, siblings: 1 })),
      );
    });

    it('groups steps sharing their needs past the threshold, in file order; dependents wait for the group', () => {
      const wide = Array.from({ length: 5 }, (_, index) => step(`w${index}`, ['root']));
      const units = planStepUnits([step('root'), ...wide, step('join', ['w4']), { ...step('sweep', ['root']), sweep: {} }], 3, 2);
      assert.deepEqual(
        units.map((unit) => [unit.id, unit.steps, unit.needs, unit.siblings]),
        [
          ['root', ['root'], [], 1],
          ['group:w0+2', ['w0', 'w1'], ['root'], 3],
          ['group:w2+2', ['w2', 'w3'], ['root'], 3],
          ['group:w4+1', ['w4'], ['root'], 3],
          ['join', ['join'], ['group:w4+1'], 1],
          ['sweep', ['sweep'], ['root'], 1],
        ],
      );
    });

    it('shares the bound between children so several run side by side', () => {
      assert.equal(childParallelism(100, 200, 4), 25);
      assert.equal(childParallelism(100, 10, 4), 10);
      assert.equal(childParallelism(1, 200, 4), 1);
    });
  });

  describe('limits checked by mlp validate', () => {
    it('accepts the 3,001-step wide DAG and a foreach over 10,000 items, estimating a history far under the warning threshold', () => {
      for (const yaml of [wideDagYaml('wide', 3_000), foreachYaml('each', 10_000)]) {
        const { resolved } = loadPipelineText(yaml, 'p.yaml');
        const estimate = estimateRunHistory(resolved);
        assert.ok(estimate.events < TEMPORAL_LIMITS.historyEventsWarning / 10, `${estimate.events} events`);
        assert.ok(estimate.childWorkflows > 0);
      }
    });

    it('refuses a maxParallel over the ceiling, naming it and the server limit', () => {
      assert.deepEqual(problems(chainYaml('p', 2).replace('steps:\n', `maxParallel: ${MAX_PARALLEL_CEILING + 1}\nsteps:\n`)), [
        `3: maxParallel: expected at most ${MAX_PARALLEL_CEILING}: the server allows 2000 pending activities and child workflows per workflow; use a foreach step or split the pipeline`,
      ]);
    });

    it('refuses a pipeline whose run would pass the history limit or the input payload limit, naming the limits', function () {
      this.timeout(60_000);
      // Cached steps cost four activities each: 2,200 of them in a chain pass 51,200 events.
      const history = problems(chainYaml('long', 2_200).replace('steps:\n', 'defaults: { cache: true }\nsteps:\n'));
      assert.equal(history.length, 1);
      assert.match(history[0] ?? '', /^4: a run would record about \d+ history events, over the server's per-workflow limit of 51200 \(2200 steps\): use a foreach step/);
      // About 210 bytes a step go in the run's input (common/workflow-input.ts): 10,000 pass 2 MB.
      const payload = problems(wideDagYaml('wide', 10_000));
      assert.equal(payload.length, 1);
      assert.match(payload[0] ?? '', /^3: the resolved pipeline is 2\.\d MB, over the server's 2\.0 MB limit on a workflow's input \(10001 steps\): use a foreach step/);
    });
  });

  describe('foreach in pipeline files', () => {
    const base = 'apiVersion: mlp/v1\nname: p\nsteps:\n  - { id: make, uses: noop, with: { value: [1, 2] } }\n';

    it('resolves items and their fields, keeping types', () => {
      assert.deepEqual(resolveItem({ value: '${{ item }}', shard: '${{ item.shard }}', text: 'n=${{ item.n }}' }, { shard: 3, n: 4 }), {
        value: { shard: 3, n: 4 },
        shard: 3,
        text: 'n=4',
      });
      assert.throws(() => resolveItem('${{ item.missing }}', { shard: 1 }), /no field "missing"/);
      assert.throws(() => resolveStepOutputs('${{ item }}', {}), /items exist only in the with: of a step with foreach/);
    });

    it('refuses an item outside foreach, a foreach that is not one list reference, a matrix beside foreach, and outputs a foreach step has not', () => {
      const yaml =
        base +
        '  - { id: a, uses: noop, needs: [make], with: { value: "${{ item }}" } }\n' +
        '  - { id: b, uses: noop, needs: [make], foreach: "x ${{ steps.make.outputs.value }}", with: {} }\n' +
        '  - { id: c, uses: noop, needs: [make], foreach: "${{ steps.make.outputs.value }}", matrix: { n: [1] }, with: {} }\n' +
        '  - { id: d, uses: noop, foreach: "${{ steps.make.outputs.value }}", with: {} }\n' +
        '  - { id: e, uses: noop, needs: [make], foreach: "${{ steps.make.outputs.value }}", maxParallel: 2, minSuccess: 1, with: { value: "${{ item }}" } }\n' +
        '  - { id: f, uses: noop, needs: [e], with: { value: "${{ steps.e.outputs.value }}" } }\n' +
        '  - { id: g, uses: noop, needs: [e], with: { value: "${{ steps.e.outputs.items }}" } }\n';
      assert.deepEqual(problems(yaml), [
        '5: ${{ item }}: step "a" has no foreach (items exist only in the with: of a step with foreach)',
        '6: foreach "x ${{ steps.make.outputs.value }}": expected one ${{ steps.<id>.outputs.<name> }} naming a list an upstream step outputs',
        '7: step "c" has both a matrix and foreach: use one (a sweep, or a fan-out over a list)',
        '8: ${{ steps.make.outputs.value }} refers to step "make", which step "d" does not need (add it to needs)',
        '10: ${{ steps.e.outputs.value }}: step "e" is a foreach step: its only output is items (one { status, outputs, error } per item)',
      ]);
    });

    it('resolves a valid foreach step with its bound', () => {
      const { resolved } = loadPipelineText(base + '  - { id: e, uses: noop, needs: [make], foreach: "${{ steps.make.outputs.value }}", maxParallel: 5000, with: { value: "${{ item }}" } }\n'.replace('5000', '7'), 'p.yaml');
      assert.deepEqual(resolved.steps[1]?.foreach, { items: '${{ steps.make.outputs.value }}', maxParallel: 7 });
    });
  });
});
