import assert from 'node:assert/strict';
import { DagShapeError, runDag, topologicalOrder, withDownstream, type DagNode } from '../../workflows/dag.ts';

const diamond: DagNode[] = [
  { id: 'a', needs: [] },
  { id: 'b', needs: ['a'] },
  { id: 'c', needs: ['a'] },
  { id: 'd', needs: ['b', 'c'] },
];

/** A node runner whose nodes finish only when the test says so, recording what happened. */
function controlledRunner() {
  const events: string[] = [];
  const pending = new Map<string, { resolve: (value: string) => void; reject: (error: Error) => void }>();
  const start = (id: string): Promise<string> => {
    events.push(`start ${id}`);
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  };
  const settle = async (id: string, error?: Error): Promise<void> => {
    const node = pending.get(id);
    assert.ok(node, `node ${id} was not started`);
    pending.delete(id);
    events.push(`${error ? 'fail' : 'end'} ${id}`);
    if (error) node.reject(error);
    else node.resolve(`out-${id}`);
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { events, pending, start, settle };
}

describe('DAG scheduling', () => {
  it('orders nodes topologically, keeping input order among ready nodes', () => {
    assert.deepEqual(topologicalOrder(diamond), ['a', 'b', 'c', 'd']);
    assert.deepEqual(topologicalOrder([{ id: 'z', needs: ['y'] }, { id: 'y', needs: [] }]), ['y', 'z']);
  });

  it('rejects duplicate ids, unknown needs and cycles with messages naming the steps', () => {
    assert.throws(() => topologicalOrder([{ id: 'a', needs: [] }, { id: 'a', needs: [] }]), {
      name: 'DagShapeError',
      message: 'Duplicate step id "a"',
    });
    assert.throws(() => topologicalOrder([{ id: 'a', needs: ['x'] }]), {
      message: 'Step "a" needs unknown step "x"',
    });
    assert.throws(
      () => topologicalOrder([{ id: 'a', needs: [] }, { id: 'b', needs: ['c'] }, { id: 'c', needs: ['b'] }]),
      (error: unknown) => error instanceof DagShapeError && error.message === 'Steps form a cycle: b, c',
    );
  });

  it('starts both middle nodes of a diamond together once the first node ends, and the last after both', async () => {
    const runner = controlledRunner();
    const done = runDag(diamond, runner.start);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual([...runner.pending.keys()], ['a']);
    await runner.settle('a');
    assert.deepEqual([...runner.pending.keys()], ['b', 'c']);
    await runner.settle('c');
    assert.deepEqual([...runner.pending.keys()], ['b'], 'd must wait for b');
    await runner.settle('b');
    await runner.settle('d');
    const run = await done;
    assert.equal(run.firstFailure, undefined);
    assert.deepEqual(run.settled.map((result) => result.id), ['a', 'c', 'b', 'd']);
    assert.deepEqual(run.notStarted, []);
  });

  it('after the first failure starts nothing new, reports it once and waits for running nodes', async () => {
    const runner = controlledRunner();
    const failures: string[] = [];
    const done = runDag(diamond, runner.start, (id) => failures.push(id));
    await new Promise((resolve) => setImmediate(resolve));
    await runner.settle('a');
    await runner.settle('b', new Error('boom'));
    assert.deepEqual(failures, ['b']);
    assert.deepEqual([...runner.pending.keys()], ['c'], 'the sibling still runs until it settles');
    await runner.settle('c', new Error('cancelled'));
    const run = await done;
    assert.deepEqual(failures, ['b'], 'only the first failure is reported');
    assert.equal(run.firstFailure?.id, 'b');
    assert.deepEqual(run.notStarted, ['d']);
    assert.ok(!runner.events.includes('start d'));
  });

  it('marks a refreshed node and everything that depends on it, and nothing upstream or beside it', () => {
    assert.deepEqual([...withDownstream(diamond, ['b'])].sort(), ['b', 'd']);
    assert.deepEqual([...withDownstream(diamond, ['a'])].sort(), ['a', 'b', 'c', 'd']);
    assert.deepEqual([...withDownstream(diamond, ['d'])], ['d']);
    assert.deepEqual([...withDownstream(diamond, [])], []);
  });
});
