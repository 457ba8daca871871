/**
 * The bound on what one workflow has scheduled at once: a first-come, first-served counting
 * semaphore for leaf work (a step's activities, a child workflow), free of Temporal APIs so it
 * can be unit-tested as plain async code. Only leaves hold slots, never the orchestration that
 * waits for them (a sweep or foreach step, the DAG), so a holder never waits for another slot
 * and the bound cannot deadlock. Deterministic in a workflow: waiters are served in the order
 * they asked, and releases follow the completions the history records.
 */
export class Slots {
  private free: number;
  private readonly waiting: { weight: number; grant: () => void }[] = [];
  /** Whether waiting is allowed: asked once, the first time a request would wait. */
  private enforced: boolean | undefined;

  /**
   * `enforce` is asked the first time a request would have to wait: false lets everything start
   * at once, as runs did before the bound existed (a `patched()` check, so their histories replay).
   */
  constructor(
    readonly limit: number,
    private readonly enforce: () => boolean = () => true,
  ) {
    this.free = limit;
  }

  /** Slots in use now. */
  get used(): number {
    return this.limit - this.free;
  }

  /**
   * Runs `work` holding `weight` slots (at most the limit): at once, synchronously, when they are
   * free and nobody waits ahead; else once everyone ahead started and enough were released.
   * The slots are released when `work` settles, whatever it settles with.
   */
  async run<T>(weight: number, work: () => Promise<T>): Promise<T> {
    const need = Math.max(1, Math.min(weight, this.limit));
    if (this.waiting.length > 0 || this.free < need) {
      this.enforced ??= this.enforce();
      if (this.enforced) await new Promise<void>((grant) => this.waiting.push({ weight: need, grant }));
      else this.free -= need;
    } else {
      this.free -= need;
    }
    try {
      return await work();
    } finally {
      this.free += need;
      this.grantWaiting();
    }
  }

  private grantWaiting(): void {
    for (let next = this.waiting[0]; next !== undefined && next.weight <= this.free; next = this.waiting[0]) {
      this.waiting.shift();
      this.free -= next.weight;
      next.grant();
    }
  }
}
