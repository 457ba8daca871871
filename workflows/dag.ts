/**
 * Deterministic DAG scheduling, free of Temporal APIs so it can be unit-tested as plain async
 * code. Each node starts as soon as all its `needs` succeeded; after the first failure nothing
 * new starts, the caller is told once (to cancel what runs), and the scheduler waits until every
 * started node settled.
 */

export interface DagNode {
  id: string;
  needs: readonly string[];
}

export type NodeResult<T> = { id: string; ok: true; value: T } | { id: string; ok: false; error: unknown };

export interface DagRun<T> {
  /** Results of the nodes that ran, in the order they settled. */
  settled: NodeResult<T>[];
  /** First failure, if any: the one that stopped the run. */
  firstFailure?: { id: string; error: unknown };
  /** Nodes that never started because an upstream node failed. */
  notStarted: string[];
}

/** Thrown when the nodes cannot all be scheduled: a missing `needs` target, a cycle, a duplicate id. */
export class DagShapeError extends Error {
  override name = 'DagShapeError';
}

/** Checks ids and needs, and returns the ids in a topological order (stable: input order first). */
export function topologicalOrder(nodes: readonly DagNode[]): string[] {
  const ids = new Set<string>();
  for (const node of nodes) {
    if (ids.has(node.id)) throw new DagShapeError(`Duplicate step id "${node.id}"`);
    ids.add(node.id);
  }
  for (const node of nodes) {
    for (const need of node.needs) {
      if (!ids.has(need)) throw new DagShapeError(`Step "${node.id}" needs unknown step "${need}"`);
    }
  }
  const order: string[] = [];
  const placed = new Set<string>();
  while (order.length < nodes.length) {
    const ready = nodes.filter((node) => !placed.has(node.id) && node.needs.every((need) => placed.has(need)));
    if (ready.length === 0) {
      const stuck = nodes.filter((node) => !placed.has(node.id)).map((node) => node.id);
      throw new DagShapeError(`Steps form a cycle: ${stuck.join(', ')}`);
    }
    for (const node of ready) {
      placed.add(node.id);
      order.push(node.id);
    }
  }
  return order;
}

/**
 * Runs every node through `start`, each as soon as its needs succeeded. `onFirstFailure` is
 * called once, synchronously, when the first node fails (the workflow cancels the running
 * siblings there). Resolves when every started node settled; never rejects for a node failure.
 */
export async function runDag<T>(
  nodes: readonly DagNode[],
  start: (id: string) => Promise<T>,
  onFirstFailure: (id: string, error: unknown) => void = () => {},
): Promise<DagRun<T>> {
  topologicalOrder(nodes);
  const succeeded = new Set<string>();
  const waiting = new Map(nodes.map((node) => [node.id, node]));
  const running = new Map<string, Promise<NodeResult<T>>>();
  const run: DagRun<T> = { settled: [], notStarted: [] };

  const startReady = (): void => {
    for (const [id, node] of waiting) {
      if (!node.needs.every((need) => succeeded.has(need))) continue;
      waiting.delete(id);
      running.set(
        id,
        start(id).then(
          (value): NodeResult<T> => ({ id, ok: true, value }),
          (error: unknown): NodeResult<T> => ({ id, ok: false, error }),
        ),
      );
    }
  };

  startReady();
  while (running.size > 0) {
    const result = await Promise.race(running.values());
    running.delete(result.id);
    run.settled.push(result);
    if (result.ok) {
      succeeded.add(result.id);
    } else if (run.firstFailure === undefined) {
      run.firstFailure = { id: result.id, error: result.error };
      onFirstFailure(result.id, result.error);
    }
    if (run.firstFailure === undefined) startReady();
  }
  run.notStarted = [...waiting.keys()];
  return run;
}

/**
 * The given ids and every node that depends on one of them, directly or through others: what
 * `--refresh` recomputes (a recomputed step may produce new outputs for everything after it).
 */
export function withDownstream(nodes: readonly DagNode[], ids: readonly string[]): Set<string> {
  const marked = new Set(ids);
  for (const id of topologicalOrder(nodes)) {
    const node = nodes.find((candidate) => candidate.id === id);
    if (node !== undefined && node.needs.some((need) => marked.has(need))) marked.add(id);
  }
  return marked;
}
