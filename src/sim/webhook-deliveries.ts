/**
 * System-webhook deliveries: what Klaviyo POSTs to each enabled webhook's `endpoint_url` when an
 * event of one of its topics happens in the account (docs/klaviyo-and-maton.md §5):
 *
 *   POST endpoint_url, JSON, batched:
 *     {"data": [{"topic", "external_id", "payload": <Get Event>}, …],
 *      "meta": {"klaviyo_account_id", "klaviyo_webhook_id", "timestamp", "version"}}
 *   Klaviyo-Webhook-Id: the webhook's id
 *   Klaviyo-Timestamp:  an HTTP-date
 *   Klaviyo-Signature:  hex(HMAC-SHA256(secret_key, raw body + Klaviyo-Timestamp))
 *
 * Events of one webhook are gathered for `webhookBatchMs` into one delivery. A delivery not
 * answered 2xx is tried again `webhookRetries` times, each attempt signed afresh (Klaviyo's retry
 * policy is not documented). Every attempt is recorded (`log()`), with the fingerprint of the
 * secret that signed it, never the secret.
 */
import { createHash, createHmac } from 'node:crypto';
import type { AccountEvent } from './handlers/context.ts';
import { shortId, ulid, uuid } from './ids.ts';
import type { ResolvedOptions } from './options.ts';
import type { SimAccount, SimWebhook } from './state.ts';
import { klaviyoTime } from './time.ts';

export interface DeliveryItem {
  readonly topic: string;
  readonly external_id: string;
  readonly payload: unknown;
}

export interface DeliveryAttempt {
  readonly at: number;
  readonly account: string;
  readonly webhookId: string;
  readonly url: string;
  readonly topics: readonly string[];
  readonly externalIds: readonly string[];
  readonly attempt: number;
  /** The first 8 hex digits of the SHA-256 of the secret that signed it. */
  readonly secret: string;
  /** The receiver's status; null when it did not answer (then `error`). */
  status: number | null;
  error?: string;
  /** The receiver's answer, up to 1,000 characters. */
  response?: string;
}

const MAX_LOG = 1000;

export const secretFingerprint = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 8);

/** The secret that signs at `now`: the newest whose `from` has come. */
export function signingSecret(w: SimWebhook, now: number): string {
  const live = w.secrets.filter((s) => s.from <= now);
  return (live[live.length - 1] ?? w.secrets[0]!).key;
}

/** One item as a webhook carries it: the event in the Get Event shape. */
export function deliveryItem(e: AccountEvent, now: number): DeliveryItem {
  const id = shortId(ulid(now), 11);
  return {
    topic: e.topic,
    external_id: id,
    payload: {
      data: {
        type: 'event',
        id,
        attributes: { timestamp: Math.floor(now / 1000), event_properties: { ...e.properties }, datetime: klaviyoTime(now), uuid: uuid() },
        relationships: {
          profile: { data: { type: 'profile', id: e.profileId } },
          metric: { data: { type: 'metric', id: shortId(`metric:${e.topic}`) } },
        },
      },
    },
  };
}

export class WebhookDeliveries {
  private readonly pending = new Map<string, { account: SimAccount; items: DeliveryItem[]; timer: NodeJS.Timeout }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private attempts: DeliveryAttempt[] = [];
  private stop = new AbortController();

  constructor(private readonly opts: ResolvedOptions) {}

  /** Hands an account's event to each enabled webhook subscribed to its topic (batched). */
  notify(account: SimAccount, event: AccountEvent): void {
    for (const w of account.webhooks.values()) {
      if (!w.enabled || !w.topics.includes(event.topic)) continue;
      const item = deliveryItem(event, this.opts.now());
      const batch = this.pending.get(w.id);
      if (batch) {
        batch.items.push(item);
        continue;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        const b = this.pending.get(w.id);
        this.pending.delete(w.id);
        const current = account.webhooks.get(w.id);
        // Deleted or disabled meanwhile: nothing goes out.
        if (b && current?.enabled) void this.send(account, current, b.items, 0);
      }, this.opts.webhookBatchMs);
      timer.unref();
      this.timers.add(timer);
      this.pending.set(w.id, { account, items: [item], timer });
    }
  }

  /** Delivers `items` to `w` now (no batching, no retries) and resolves with the attempt (control route, tests). */
  deliverNow(account: SimAccount, w: SimWebhook, items: readonly DeliveryItem[]): Promise<DeliveryAttempt> {
    return this.attempt(account, w, items, 0);
  }

  log(): DeliveryAttempt[] {
    return [...this.attempts];
  }

  /** Forgets pending batches, timers and the log; in-flight requests are aborted. */
  reset(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.pending.clear();
    this.attempts = [];
    this.stop.abort();
    this.stop = new AbortController();
  }

  private async send(account: SimAccount, w: SimWebhook, items: readonly DeliveryItem[], attempt: number): Promise<void> {
    const a = await this.attempt(account, w, items, attempt);
    if ((a.status !== null && a.status >= 200 && a.status < 300) || attempt >= this.opts.webhookRetries || this.stop.signal.aborted) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        const current = account.webhooks.get(w.id);
        if (current?.enabled) void this.send(account, current, items, attempt + 1);
      },
      this.opts.webhookRetryDelayMs * 2 ** attempt,
    );
    timer.unref();
    this.timers.add(timer);
  }

  private async attempt(account: SimAccount, w: SimWebhook, items: readonly DeliveryItem[], attempt: number): Promise<DeliveryAttempt> {
    const now = this.opts.now();
    const body = JSON.stringify({
      data: items,
      meta: {
        klaviyo_account_id: shortId(`public:${account.id}`),
        klaviyo_webhook_id: w.id,
        timestamp: new Date(now).toISOString().replace('Z', '000+00:00'),
        version: '2024-06-28',
      },
    });
    const timestamp = new Date(now).toUTCString();
    const secret = signingSecret(w, now);
    const record: DeliveryAttempt = {
      at: now,
      account: account.id,
      webhookId: w.id,
      url: w.endpointUrl,
      topics: [...new Set(items.map((i) => i.topic))],
      externalIds: items.map((i) => i.external_id),
      attempt,
      secret: secretFingerprint(secret),
      status: null,
    };
    this.attempts.push(record);
    if (this.attempts.length > MAX_LOG) this.attempts = this.attempts.slice(-MAX_LOG);
    try {
      const res = await fetch(w.endpointUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'klaviyo-webhook-id': w.id,
          'klaviyo-timestamp': timestamp,
          'klaviyo-signature': createHmac('sha256', secret).update(body).update(timestamp).digest('hex'),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.opts.webhookTimeoutMs), this.stop.signal]),
      });
      record.status = res.status;
      record.response = (await res.text()).slice(0, 1000);
    } catch (err) {
      record.error = (err as Error).message;
    }
    return record;
  }
}
