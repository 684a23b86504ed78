/**
 * Klaviyo system webhooks in /metrics, read from Redis at scrape time (any API process shows the
 * same): deliveries verified, refused and self-tested per webhook id, and the secrets each webhook
 * has accepted now (2 or more: a rotation under way). Webhook ids are only those the relay knows or
 * that passed verification, never one a stranger chose: refusals of unknown ids are `(unknown)`.
 */
import type { Metrics } from '../metrics.ts';
import type { RedisClient as Redis } from '../redis.ts';
import { deliveryStatsKey } from '../webhooks/klaviyo-secrets.ts';
import type { WebhookSecretStore } from '../webhooks/secret-store.ts';

export function registerWebhookGauges(metrics: Metrics, redis: Redis, prefix: string, store: WebhookSecretStore): void {
  metrics.addCollected(
    'relay_klaviyo_webhook_deliveries',
    'Klaviyo system-webhook deliveries by webhook id and outcome (verified, refused, tested: the relay’s own self-test)',
    ['webhook', 'outcome'],
    async (set) => {
      for (const [field, n] of Object.entries(await redis.hgetall(deliveryStatsKey(prefix)))) {
        const at = field.indexOf(':');
        set({ outcome: field.slice(0, at), webhook: field.slice(at + 1) }, Number(n));
      }
    },
  );
  metrics.addCollected(
    'relay_klaviyo_webhook_secrets',
    'Secrets accepted now per Klaviyo webhook the relay manages (2 or more while a rotation is under way)',
    ['webhook'],
    async (set) => {
      for (const r of await store.records()) set({ webhook: r.id }, (await store.secrets(r.id)).length);
    },
  );
}
