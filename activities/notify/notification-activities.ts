import { Context } from '@temporalio/activity';
import { ConfigError } from '../../common/errors.ts';
import { temporalRunUrl, webhookBody, type NotificationRequest, type NotificationResult } from '../../common/notifications.ts';
import { postWebhook, type WebhookUrlResolver } from './webhook.ts';

/** What the notification activity needs from the worker (a subset of ActivityDeps). */
export interface NotificationDeps {
  /** Resolves `urlFrom` on this worker; without it, no run can notify through this worker. */
  resolveWebhookUrl?: WebhookUrlResolver;
  /** The Temporal Web UI (MLP_TEMPORAL_UI_URL, no trailing slash): notices link to the run when set. */
  temporalUiUrl?: string;
}

/**
 * The activity the `runPipeline` workflow calls once per due `notify:` target at the run's end
 * (workflows/notify-run.ts). It resolves the URL here, on the worker, adds the UI link and posts;
 * the URL appears in no input, output, failure or log line.
 */
export function createNotificationActivities({ resolveWebhookUrl, temporalUiUrl }: NotificationDeps) {
  return {
    async notifyRun({ index, urlFrom, notice }: NotificationRequest): Promise<NotificationResult> {
      const { log, info, cancellationSignal } = Context.current();
      if (resolveWebhookUrl === undefined) throw new ConfigError(`notify[${index}]: this worker resolves no webhook URLs`);
      const url = await resolveWebhookUrl(urlFrom).catch((error: unknown) => {
        const message = `notify[${index}]: ${error instanceof Error ? error.message : String(error)}`;
        log.warn('Webhook URL not resolved', { index, error: message });
        throw error instanceof ConfigError ? new ConfigError(message) : error;
      });
      const link = temporalUiUrl === undefined ? undefined : temporalRunUrl(temporalUiUrl, info.namespace, notice.workflowId, notice.runId);
      const status = await postWebhook(url, webhookBody(notice, link), cancellationSignal);
      log.info('Run notification sent', { index, workflowId: notice.workflowId, status });
      return { status };
    },
  };
}

export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
