/**
 * One job per key at a time in this process. Sweep trials of one train step run as concurrent
 * activities on the same worker and need the same frozen-backbone features: without turns each
 * computes all of them (measured on the demo: two trials, 467 features each, each on half the
 * cores). With a turn per cached pass, the first trial computes and stores them, and the second
 * starts once that is done and reads them from the feature cache.
 */
export class KeyedTurns {
  readonly #turns = new Map<string, Promise<void>>();

  /** Runs `job` once no other job holds `key`, and holds it until `job` settles. */
  async run<T>(key: string, job: () => Promise<T>): Promise<T> {
    for (let held = this.#turns.get(key); held; held = this.#turns.get(key)) await held;
    let release!: () => void;
    this.#turns.set(key, new Promise<void>((resolve) => (release = resolve)));
    try {
      return await job();
    } finally {
      this.#turns.delete(key);
      release();
    }
  }
}
