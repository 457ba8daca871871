import { isGrpcDeadlineError, type Client } from '@temporalio/client';
import type { History } from './run-history.ts';

type HistoryEvent = NonNullable<History['events']>[number];

/**
 * Events asked for per request. A full page means more may follow at once; the server's own
 * cap (frontend.historyMaxPageSize) defaults to the same number.
 */
const PAGE_SIZE = 256;

/** A run's history read incrementally: each event is fetched once, however often it is polled. */
export interface HistoryFollower {
  /** Every event read so far, in order. */
  readonly events: readonly HistoryEvent[];
  /** True once the run closed and its last event was read. */
  readonly complete: boolean;
  /**
   * Reads the events after the last one read. While the run is open it waits up to `waitMs`
   * for the next one (a long poll, so a quiet run costs one request per wait). Returns how many
   * events arrived.
   */
  poll(waitMs: number): Promise<number>;
  /** Reads everything left; for a run that has closed (an open one would wait for its end). */
  readToEnd(waitMs: number): Promise<void>;
}

/**
 * Follows a run's event history with the server's page token: the token of the last page
 * (asked for with `waitNewEvent`) points after the last event read, so the next request returns
 * only newer events, waiting for them while there are none.
 */
export function followHistory(client: Client, workflowId: string, runId: string): HistoryFollower {
  const events: HistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  let complete = false;

  const page = async (waitMs: number): Promise<number> => {
    let response;
    try {
      response = await client.withDeadline(Date.now() + waitMs, () =>
        client.workflowService.getWorkflowExecutionHistory({
          namespace: client.options.namespace,
          execution: { workflowId, runId },
          maximumPageSize: PAGE_SIZE,
          waitNewEvent: true,
          ...(nextPageToken === undefined ? {} : { nextPageToken }),
        }),
      );
    } catch (error) {
      // Nothing new within the wait: the token still points after the last event read.
      if (isGrpcDeadlineError(error)) return 0;
      throw error;
    }
    const received = response.history?.events ?? [];
    events.push(...received);
    if (response.nextPageToken && response.nextPageToken.length > 0) nextPageToken = response.nextPageToken;
    else complete = true;
    return received.length;
  };

  return {
    events,
    get complete() {
      return complete;
    },
    async poll(waitMs) {
      let total = 0;
      for (;;) {
        if (complete) return total;
        const received = await page(waitMs);
        total += received;
        if (received < PAGE_SIZE) return total;
      }
    },
    async readToEnd(waitMs) {
      while (!complete) await page(waitMs);
    },
  };
}
