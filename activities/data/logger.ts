/**
 * The slice of a logger the data helpers need. Activities pass the SDK's activity logger; the
 * benchmark and tests pass their own, so the helpers run outside an activity too.
 */
export interface DataLogger {
  info(message: string, attrs?: Record<string, unknown>): void;
  warn(message: string, attrs?: Record<string, unknown>): void;
}

/** Drops everything: for callers that do not care (benchmarks, some tests). */
export const silentLogger: DataLogger = {
  info() {},
  warn() {},
};
