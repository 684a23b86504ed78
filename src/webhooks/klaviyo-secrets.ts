/**
 * The secrets `POST /webhooks/klaviyo` accepts for one delivery, as the route asks for them:
 * those the relay made for the webhook the delivery names (secret-store.ts, in Redis, shared by
 * every process) — the config file's `klaviyoWebhooks.secrets` are added by the route. And what the
 * route tells back: a delivery verified (by which secret) or refused, counted per webhook.
 *
 * During a rotation the old secret has a retire time (grace period). The first delivery verified
 * with the newest secret proves Klaviyo signs with it: the older ones are then kept only
 * CONFIRMED_TAIL_MS more, for deliveries signed before the switch and still on their way.
 *
 * Redis unreachable: the last secrets read for that webhook are used (a delivery is then verified,
 * and spooled like any other work), or none from here.
 */
import type { RedisClient as Redis } from '../redis.ts';
import { statsKey } from '../redis-keys.ts';
import type { StoredSecret, WebhookSecretStore } from './secret-store.ts';

export const CONFIRMED_TAIL_MS = 60_000;

/**
 * Per-webhook delivery counters: `verified:<id>`, `refused:<id>` (`refused:(unknown)` for an id the
 * relay does not know), `tested:<id>` (the relay's own self-test deliveries, `relay webhooks test`).
 */
export const deliveryStatsKey = (prefix: string) => statsKey(prefix, 'klaviyo-webhooks');

export interface AcceptedSecrets {
  readonly secrets: readonly Pick<StoredSecret, 'fingerprint' | 'value'>[];
  /** The webhook has secrets of its own here (not only those of webhooks being created). */
  readonly known: boolean;
  /** Where its work goes, when the relay created it. */
  readonly lane?: string;
}

export interface KlaviyoWebhookSecrets {
  accepted(webhookId: string): Promise<AcceptedSecrets>;
  /**
   * Verified with `fingerprint`: counted, and a rotation learns the new secret is in use — unless it
   * was the relay's own self-test, which proves nothing about what Klaviyo signs with. Never rejects.
   */
  verified(webhookId: string, fingerprint: string | undefined, selfTest?: boolean): Promise<void>;
  /** Refused (any reason): counted under the id when the relay knows it. Never rejects. */
  refused(webhookId: string | undefined, known: boolean): Promise<void>;
}

export function createKlaviyoWebhookSecrets(store: WebhookSecretStore, redis: Redis, prefix: string, now: () => number = Date.now): KlaviyoWebhookSecrets {
  // Bounded by the webhooks the relay knows: only known ids are remembered.
  const lastRead = new Map<string, AcceptedSecrets>();
  const count = (field: string) =>
    redis
      .hincrby(deliveryStatsKey(prefix), field, 1)
      .then(() => undefined)
      .catch(() => undefined);

  return {
    async accepted(webhookId) {
      try {
        const [own, record] = await Promise.all([store.secrets(webhookId), store.record(webhookId)]);
        // An id with no secret of its own may be a webhook being created: Klaviyo may sign before its id is stored.
        const secrets = own.length > 0 ? own : await store.pending();
        const out: AcceptedSecrets = { secrets, known: own.length > 0 || record !== undefined, ...(record ? { lane: record.lane } : {}) };
        if (out.known) lastRead.set(webhookId, out);
        return out;
      } catch {
        return lastRead.get(webhookId) ?? { secrets: [], known: false };
      }
    },
    async verified(webhookId, fingerprint, selfTest = false) {
      await count(`${selfTest ? 'tested' : 'verified'}:${webhookId}`);
      if (fingerprint === undefined || selfTest) return;
      try {
        const [newest, ...older] = await store.secrets(webhookId);
        if (newest?.fingerprint !== fingerprint) return;
        const tail = now() + CONFIRMED_TAIL_MS;
        for (const s of older) if (s.retireAt !== undefined && s.retireAt > tail) await store.retire(webhookId, s.fingerprint, tail);
      } catch {
        // The grace period still ends the old secret.
      }
    },
    async refused(webhookId, known) {
      await count(`refused:${known && webhookId ? webhookId : '(unknown)'}`);
    },
  };
}
