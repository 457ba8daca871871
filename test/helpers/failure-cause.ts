/** The first error of class `type` in `error`'s cause chain (WorkflowFailedError → ActivityFailure → ApplicationFailure). */
export function findCause<T extends Error>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (current instanceof type) return current;
  }
  return undefined;
}
