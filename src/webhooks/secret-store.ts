/**
 * Klaviyo webhook secrets the relay made (`relay webhooks create|rotate`, /ops/webhooks), kept in
 * Redis, per webhook id, beside the config file's `klaviyoWebhooks.secrets` (always accepted).
 *
 * Why Redis and not the config file: every API process and every replica reads it, so a secret
 * added there is accepted everywhere at once — no file to copy to each machine, no reload, no
 * restart — and it is in place before Klaviyo is told to sign with it (zero-downtime rotation).
 * The config file stays the place for secrets an operator manages by hand.
 *
 * Per webhook, its secrets (fingerprint → value) and their retire times, under one hash tag; beside
 * them what the relay knows of each webhook, and the secrets of webhooks being created (the names
 * are src/redis-keys.ts's). A secret is accepted until its retire time; retirement only ever moves
 * earlier (ZADD LT).
 *
 * Values are never logged nor answered: outside this module a secret is its fingerprint (the
 * first 12 hex digits of its SHA-256). They are not encrypted at rest: whoever can read this
 * Redis can read and write the queued work itself.
 */
import { createHash } from 'node:crypto';
import type { RedisClient as Redis } from '../redis.ts';
import { webhookMetaKey, webhookPendingKey, webhookRetireKey, webhookSecretsKey } from '../redis-keys.ts';

export interface StoredSecret {
  readonly fingerprint: string;
  readonly value: string;
  readonly addedAt: number;
  /** When it stops being accepted (absent: until replaced). */
  readonly retireAt?: number;
}

/** What the relay knows of a webhook it created or rotated. */
export interface WebhookRecord {
  readonly id: string;
  readonly lane: string;
  /** The full endpoint URL (Klaviyo answers it truncated); absent for a webhook created elsewhere. */
  readonly url?: string;
  readonly name?: string;
  readonly topics?: readonly string[];
  readonly createdAt: number;
  readonly createdBy: string;
}

export interface WebhookSecretStore {
  /** Every secret of `id` not yet retired, newest first. */
  secrets(id: string): Promise<StoredSecret[]>;
  /** The secrets of webhooks being created (no id yet): accepted for any id not otherwise known. */
  pending(): Promise<StoredSecret[]>;
  record(id: string): Promise<WebhookRecord | undefined>;
  records(): Promise<WebhookRecord[]>;
  /** Before a create: `value` is accepted for any webhook id not otherwise known, for `ttlMs`. */
  addPending(nonce: string, value: string, ttlMs: number): Promise<void>;
  dropPending(nonce: string): Promise<void>;
  /** The webhook exists now: its record and first secret; the pending secret goes. */
  bind(nonce: string, record: WebhookRecord, value: string): Promise<StoredSecret>;
  saveRecord(record: WebhookRecord): Promise<void>;
  /** Adds a secret (a rotation's new one), accepted from now on. */
  add(id: string, value: string): Promise<StoredSecret>;
  /** Stops accepting secret `fingerprint` at `at` (or earlier, if it was to stop sooner already). */
  retire(id: string, fingerprint: string, at: number): Promise<void>;
  /** Forgets one secret at once (a rotation whose PATCH failed). */
  drop(id: string, fingerprint: string): Promise<void>;
  /** Forgets the webhook: record and secrets. */
  remove(id: string): Promise<void>;
}

export const secretFingerprint = (value: string): string => createHash('sha256').update(value).digest('hex').slice(0, 12);

interface PendingValue {
  readonly value: string;
  readonly until: number;
}

export function createWebhookSecretStore(redis: Redis, prefix: string, now: () => number = Date.now): WebhookSecretStore {
  const secretsKey = (id: string) => webhookSecretsKey(prefix, id);
  const retireKey = (id: string) => webhookRetireKey(prefix, id);
  const metaKey = webhookMetaKey(prefix);
  const pendingKey = webhookPendingKey(prefix);

  async function secrets(id: string): Promise<StoredSecret[]> {
    const res = (await redis.multi().hgetall(secretsKey(id)).zrange(retireKey(id), '0', '-1', 'WITHSCORES').exec()) ?? [];
    const [e1, raw] = res[0] ?? [new Error('no answer')];
    const [e2, retire] = res[1] ?? [new Error('no answer')];
    if (e1 || e2) throw e1 ?? e2;
    const retireAt = new Map<string, number>();
    const r = retire as string[];
    for (let i = 0; i + 1 < r.length; i += 2) retireAt.set(r[i]!, Number(r[i + 1]));
    const t = now();
    const out: StoredSecret[] = [];
    const expired: string[] = [];
    for (const [fingerprint, json] of Object.entries(raw as Record<string, string>)) {
      const at = retireAt.get(fingerprint);
      if (at !== undefined && at <= t) {
        expired.push(fingerprint);
        continue;
      }
      const v = JSON.parse(json) as { value: string; addedAt: number };
      out.push({ fingerprint, value: v.value, addedAt: v.addedAt, ...(at !== undefined ? { retireAt: at } : {}) });
    }
    // Retired secrets are forgotten by whoever notices first.
    if (expired.length > 0)
      await redis
        .multi()
        .hdel(secretsKey(id), ...expired)
        .zrem(retireKey(id), ...expired)
        .exec();
    return out.sort((a, b) => b.addedAt - a.addedAt);
  }

  async function pending(): Promise<StoredSecret[]> {
    const all = await redis.hgetall(pendingKey);
    const t = now();
    const out: StoredSecret[] = [];
    for (const [nonce, json] of Object.entries(all)) {
      const p = JSON.parse(json) as PendingValue;
      if (p.until > t) out.push({ fingerprint: secretFingerprint(p.value), value: p.value, addedAt: t, retireAt: p.until });
      else await redis.hdel(pendingKey, nonce);
    }
    return out;
  }

  async function add(id: string, value: string, addedAt = now()): Promise<StoredSecret> {
    const fingerprint = secretFingerprint(value);
    await redis.multi().hset(secretsKey(id), fingerprint, JSON.stringify({ value, addedAt })).zrem(retireKey(id), fingerprint).exec();
    return { fingerprint, value, addedAt };
  }

  return {
    secrets,
    pending,
    async record(id) {
      const json = await redis.hget(metaKey, id);
      return json ? (JSON.parse(json) as WebhookRecord) : undefined;
    },
    async records() {
      return Object.values(await redis.hgetall(metaKey))
        .map((json) => JSON.parse(json) as WebhookRecord)
        .sort((a, b) => a.createdAt - b.createdAt);
    },
    async addPending(nonce, value, ttlMs) {
      await redis.hset(pendingKey, nonce, JSON.stringify({ value, until: now() + ttlMs } satisfies PendingValue));
    },
    async dropPending(nonce) {
      await redis.hdel(pendingKey, nonce);
    },
    async bind(nonce, record, value) {
      // The id's own secret first, then the pending one goes: never a moment without it.
      const secret = await add(record.id, value);
      await redis.hset(metaKey, record.id, JSON.stringify(record));
      await redis.hdel(pendingKey, nonce);
      return secret;
    },
    async saveRecord(record) {
      await redis.hset(metaKey, record.id, JSON.stringify(record));
    },
    add: (id, value) => add(id, value),
    async retire(id, fingerprint, at) {
      // LT: an earlier retirement stands.
      await redis.zadd(retireKey(id), 'LT', at, fingerprint);
    },
    async drop(id, fingerprint) {
      await redis.multi().hdel(secretsKey(id), fingerprint).zrem(retireKey(id), fingerprint).exec();
    },
    async remove(id) {
      await redis.multi().del(secretsKey(id), retireKey(id)).exec();
      await redis.hdel(metaKey, id);
    },
  };
}
