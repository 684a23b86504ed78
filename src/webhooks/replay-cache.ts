/**
 * Standard Webhooks message ids already seen, per source, in Redis: a replay of a signed request
 * (captured, or a sender's retry of a message it got no answer for) within the timestamp tolerance
 * must not create work twice — items without a caller's id would get fresh generated ids.
 *
 * An id is claimed (`pending`) once its signature verified, and marked `accepted` only when the
 * request was answered 2xx; any other answer releases it, so a failed first attempt never
 * swallows the sender's retry. A claim left by a process that died expires after PENDING_TTL_MS.
 * `accepted` is kept for twice the tolerance: the signed timestamp is within ±tolerance of the
 * acceptance, and a replay is refused as stale once it is more than the tolerance old.
 *
 * Each value carries a fingerprint of the request's timestamp and signature headers. Before the
 * body is read only an exact copy (same id, timestamp and signature: the same signed bytes) can be
 * answered from the cache; a request that merely reuses a known id has its body read and its
 * signature checked like any other, so a forgery still gets its 401.
 *
 * Keys share one hash tag (`{webhook-ids}`), so that the look-up of several sources' keys at once
 * (MGET) stays in one slot of a Redis Cluster; the claim and the settle are one-key scripts.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient as Redis } from '../redis.ts';
import { webhookIdKey } from '../redis-keys.ts';
import { STANDARD_TOLERANCE_MS } from './standard-webhooks.ts';

export type ReplayState = 'accepted' | 'pending';

export interface ReplayCache {
  /** The state every one of these sources holds for `id` from this very request (same fingerprint), if they agree. */
  peek(sourceIds: readonly string[], id: string, fingerprint: string): Promise<ReplayState | undefined>;
  /** Claims `id` for `sourceId`: a token to settle with, or the state another request left. */
  claim(sourceId: string, id: string, fingerprint: string): Promise<{ token: string } | { state: ReplayState }>;
  /** The request that claimed `id` is answered: keep it as accepted (2xx), or release it. */
  settle(sourceId: string, id: string, fingerprint: string, token: string, accepted: boolean): Promise<void>;
}

const READY_WAIT_MS = 2000;

/** Long enough for one request to be enqueued (or spooled); a dead claimant's claim expires after it. */
export const PENDING_TTL_MS = 30_000;

/** What makes two signed requests with one id the same request: the signed timestamp and the signatures. */
export function requestFingerprint(timestamp: string, signature: string): string {
  return createHash('sha256').update(`${timestamp}\n${signature}`).digest().subarray(0, 16).toString('base64url');
}

// Values: `accepted:<fingerprint>`, or `pending:<fingerprint>:<token>` while a request holds the id.
// KEYS[1]: the id's key. ARGV: the pending value, its TTL (ms). Returns 'claimed', 'accepted' or 'pending'.
const CLAIM = `
local v = redis.call('GET', KEYS[1])
if v then
  if string.sub(v, 1, 9) == 'accepted:' then return 'accepted' end
  return 'pending'
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'
`;

// KEYS[1]: the id's key. ARGV: the pending value this request set, the accepted value ('' = release), its TTL (ms).
const SETTLE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] ~= '' then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  else
    redis.call('DEL', KEYS[1])
  end
end
return 0
`;

type ReplayRedis = Redis & {
  relayReplayClaim(key: string, value: string, ttlMs: number): Promise<string>;
  relayReplaySettle(key: string, pending: string, accepted: string, ttlMs: number): Promise<number>;
};

export function createReplayCache(redis: Redis, prefix: string, toleranceMs = STANDARD_TOLERANCE_MS): ReplayCache {
  // numberOfKeys fixed, so the key is the first argument: ioredis routes auto-pipelined commands by it.
  if (!('relayReplayClaim' in redis)) redis.defineCommand('relayReplayClaim', { lua: CLAIM, numberOfKeys: 1 });
  if (!('relayReplaySettle' in redis)) redis.defineCommand('relayReplaySettle', { lua: SETTLE, numberOfKeys: 1 });
  const r = redis as ReplayRedis;
  const key = (sourceId: string, id: string) => webhookIdKey(prefix, sourceId, id);
  const acceptedTtlMs = 2 * toleranceMs;

  // The API's connection fails fast while it is not ready (no offline queue). At start-up and during
  // a reconnect, waiting a moment beats refusing a signed request; past READY_WAIT_MS it is refused
  // (503). One wait shared by every request meanwhile (not a listener each).
  let waiting: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    if (redis.status === 'ready') return Promise.resolve();
    waiting ??= new Promise<void>((resolve, reject) => {
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        redis.off('ready', onReady);
        reject(new Error(`Redis is not ready (${redis.status})`));
      }, READY_WAIT_MS);
      redis.once('ready', onReady);
    }).finally(() => (waiting = undefined));
    return waiting;
  };

  return {
    async peek(sourceIds, id, fingerprint) {
      if (sourceIds.length === 0) return undefined;
      await ready();
      const values = await redis.mget(...sourceIds.map((s) => key(s, id)));
      for (const state of ['accepted', 'pending'] as const) {
        if (values.every((v) => v?.startsWith(`${state}:${fingerprint}`))) return state;
      }
      return undefined;
    },
    async claim(sourceId, id, fingerprint) {
      const token = randomBytes(9).toString('base64url');
      await ready();
      const result = await r.relayReplayClaim(key(sourceId, id), `pending:${fingerprint}:${token}`, PENDING_TTL_MS);
      return result === 'claimed' ? { token } : { state: result === 'accepted' ? 'accepted' : 'pending' };
    },
    async settle(sourceId, id, fingerprint, token, accepted) {
      await r.relayReplaySettle(key(sourceId, id), `pending:${fingerprint}:${token}`, accepted ? `accepted:${fingerprint}` : '', acceptedTtlMs);
    },
  };
}
