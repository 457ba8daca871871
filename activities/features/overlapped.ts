/**
 * Keeps a feature engine on another thread busy across batches: the next batch is fetched (decoded,
 * augmented, copied) while the previous one is still being computed, instead of the feature engine
 * idling while this thread prepares the next input. Results are handled strictly in order.
 */

export interface OverlapSteps<T, R> {
  /** Starts the work on one item; called in order, at most `depth` unfinished at a time. */
  start(item: T): Promise<R>;
  /** Takes one finished result, in the order the items came. */
  finish(item: T, result: R): Promise<void> | void;
  /** Frees a result that was started but will not be finished, because another item failed. */
  discard?(item: T, result: R): void;
}

/**
 * Runs `steps.start` over `items` with up to `depth` items in flight (2: one computing, one being
 * prepared) and `steps.finish` on each in order. A failure stops new starts; items already
 * started are settled and discarded before the error is rethrown, so nothing keeps running or
 * holding memory behind the caller's back.
 */
export async function overlapped<T, R>(items: AsyncIterable<T> | Iterable<T>, steps: OverlapSteps<T, R>, depth = 2): Promise<void> {
  const inFlight: { item: T; result: Promise<R> }[] = [];
  try {
    for await (const item of items) {
      const result = steps.start(item);
      // Observed at once: a rejection while this loop waits for the next item is not "unhandled".
      result.catch(() => {});
      inFlight.push({ item, result });
      while (inFlight.length >= depth) {
        const oldest = inFlight.shift();
        if (oldest) await steps.finish(oldest.item, await oldest.result);
      }
    }
    while (inFlight.length > 0) {
      const oldest = inFlight.shift();
      if (oldest) await steps.finish(oldest.item, await oldest.result);
    }
  } catch (error) {
    const left = inFlight.splice(0);
    await Promise.allSettled(left.map(async ({ item, result }) => steps.discard?.(item, await result)));
    throw error;
  }
}
