import type { FetchProgress } from './store-once.ts';

/**
 * Plain progress lines for a public-source fetch (they read well in a terminal, a CI log or a
 * pipe): at most one every `everyMs` per file, and one when a file completes, each with bytes,
 * share and the average rate since that file started, e.g.
 * `    fetching the Kermany chest X-ray archive (~1.2 GB)  312.4 of 1234.6 MB (25%) · 8.1 MB/s`.
 */
export function fetchProgressPrinter(print: (line: string) => void, everyMs = 2000, now: () => number = Date.now): (progress: FetchProgress) => void {
  const files = new Map<string, { startedAt: number; printedAt: number }>();
  return ({ what, bytesDone, bytesTotal }) => {
    const time = now();
    let file = files.get(what);
    if (file === undefined) {
      file = { startedAt: time, printedAt: -Infinity };
      files.set(what, file);
    }
    const done = bytesTotal !== undefined && bytesDone >= bytesTotal;
    if (!done && time - file.printedAt < everyMs) return;
    file.printedAt = time;
    print(`    fetching ${what}  ${formatProgress(bytesDone, bytesTotal, (time - file.startedAt) / 1000)}`);
  };
}

export function formatProgress(bytesDone: number, bytesTotal: number | undefined, seconds: number): string {
  const mb = (bytes: number) => (bytes / 1_000_000).toFixed(1);
  const amount = bytesTotal === undefined ? `${mb(bytesDone)} MB` : `${mb(bytesDone)} of ${mb(bytesTotal)} MB (${Math.floor((100 * bytesDone) / Math.max(bytesTotal, 1))}%)`;
  const rate = seconds > 0 ? ` · ${mb(bytesDone / seconds)} MB/s` : '';
  return `${amount}${rate}`;
}
