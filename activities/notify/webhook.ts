import { WebhookError, WebhookRejectedError } from '../../common/errors.ts';
import type { WebhookUrlSource } from '../../common/notifications.ts';

/**
 * Resolves where `urlFrom` points, on the worker (worker/webhook-urls.ts): the URL itself never
 * travels in a spec, an activity input or a history. Throws `ConfigError` naming the variable
 * or file, never its content.
 */
export type WebhookUrlResolver = (source: WebhookUrlSource) => Promise<URL>;

/** How long one POST may take before the attempt fails (and is retried). */
const POST_TIMEOUT_MS = 10_000;

/** Statuses that say "later": every other 4xx will not change on a retry. */
const RETRYABLE_CLIENT_STATUSES = new Set([408, 429]);

/** A network error's code (ECONNREFUSED, ENOTFOUND, …) or name: fetch's messages and causes may quote the URL. */
function networkReason(error: unknown): string {
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  const code = typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
  if (code !== undefined) return code;
  return error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${POST_TIMEOUT_MS / 1000} s` : 'network error';
}

/**
 * POSTs `body` as JSON to `url`; resolves with the status of a 2xx answer. Every error is a new
 * `WebhookError` without a cause, whose message names the status or network error and never the
 * URL (Temporal records an activity's failure, its message and causes, in the run's history).
 */
export async function postWebhook(url: URL, body: unknown, signal?: AbortSignal): Promise<number> {
  const timeout = AbortSignal.timeout(POST_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
    });
  } catch (error) {
    throw new WebhookError(`Webhook POST failed: ${networkReason(error)}`);
  }
  // The answer's body is not needed; reading it frees the connection.
  await response.arrayBuffer().catch(() => undefined);
  if (response.ok) return response.status;
  const message = `Webhook answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  if (response.status >= 400 && response.status < 500 && !RETRYABLE_CLIENT_STATUSES.has(response.status)) throw new WebhookRejectedError(message);
  throw new WebhookError(message);
}
