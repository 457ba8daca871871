import { readFile } from 'node:fs/promises';
import type { WebhookUrlResolver } from '../activities/notify/webhook.ts';
import { ConfigError } from '../common/errors.ts';
import type { WebhookUrlSource } from '../common/notifications.ts';

/** `{ env: NAME }` or `{ file: PATH }`, as a person reads it in an error. */
function describeSource(source: WebhookUrlSource): string {
  return 'env' in source ? `environment variable ${source.env}` : `file ${source.file}`;
}

/**
 * How this worker finds a `notify:` webhook's URL: a variable of the environment it started with
 * (parsed once, here, like the rest of its configuration) or a file read when a run notifies,
 * so a rotated secret file takes effect without a restart. Errors name the variable or the file
 * and never a value: the URL usually holds a token.
 */
export function createWebhookUrlResolver(env: Readonly<Record<string, string | undefined>>): WebhookUrlResolver {
  const snapshot: Readonly<Record<string, string | undefined>> = { ...env };
  return async (source) => {
    let text: string | undefined;
    if ('env' in source) {
      text = Object.hasOwn(snapshot, source.env) ? snapshot[source.env] : undefined;
      if (text === undefined || text.trim() === '') throw new ConfigError(`${describeSource(source)} is not set on this worker: it should hold the webhook URL`);
    } else {
      try {
        text = await readFile(source.file, 'utf8');
      } catch (error) {
        const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'unreadable';
        throw new ConfigError(`Cannot read the webhook URL from ${describeSource(source)} on this worker (${code})`);
      }
    }
    let url: URL;
    try {
      url = new URL(text.trim());
    } catch {
      throw new ConfigError(`The webhook URL in ${describeSource(source)} is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`The webhook URL in ${describeSource(source)} is not an http(s) URL`);
    return url;
  };
}
