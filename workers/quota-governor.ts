/**
 * The quota governor: one limiter, atomic in Redis, shared by every worker process and machine.
 *
 * Each Klaviyo call needs a token from every bucket it is subject to:
 *  - the Maton gateway's 10 requests/s per API key, across all connections (reference/maton-gateway.md);
 *  - the Klaviyo account's burst (1 s) and steady (60 s) windows for that endpoint
 *    (OpenAPI `x-klaviyo-ratelimit`, see src/klaviyo/endpoints.ts).
 *
 * Klaviyo counts in fixed windows whose alignment we cannot see, and requests arrive with network
 * jitter. A sliding log (a sorted set of send times) guarantees that *every* interval of the window's
 * length holds at most `limit` sends, so no alignment of Klaviyo's windows can see more; a small
 * padding on each window absorbs the jitter. Workers wait for a token instead of collecting 429s.
 *
 * It also learns: a 429's Retry-After blocks the bucket that answered until then, and
 * `RateLimit-Remaining: 0` blocks the endpoint until `RateLimit-Reset`.
 */
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../src/redis.ts';
import { ENDPOINTS, GATEWAY_REQUESTS_PER_SECOND, type EndpointName } from '../src/klaviyo/endpoints.ts';
import type { RateLimitInfo } from '../src/klaviyo/client.ts';
import type { QuotaScope } from '../src/lanes.ts';
import type { PriorityClass } from '../src/priority.ts';

export type { QuotaScope };

export interface GovernorLimits {
  readonly gatewayPerSecond: number;
  readonly endpoints: Readonly<Partial<Record<EndpointName, { burst: number; steady: number }>>>;
  /** Added to each window's length to absorb network jitter between us and Klaviyo's counters. */
  readonly burstPaddingMs: number;
  readonly steadyPaddingMs: number;
}

export const DEFAULT_LIMITS: GovernorLimits = {
  gatewayPerSecond: GATEWAY_REQUESTS_PER_SECOND,
  endpoints: {},
  // Covers the spread between our grant and Klaviyo's count: our own event loop, the network and
  // the far side's queueing. 100 ms let 3 gateway 429s through in a 400,000-event drain on this
  // 2-core machine (bench, 2026-11-27); 250 ms costs bursts 20% and the steady rate nothing.
  burstPaddingMs: 250,
  steadyPaddingMs: 1000,
};

// KEYS: block keys (nBlocks), then bucket keys.  ARGV: nBlocks, member ('' = only look), then
// limit,windowMs per bucket. Returns 0 when a token was (or could be) taken from every bucket,
// else the ms to wait before asking again.
const TAKE_SCRIPT = `
local nBlocks = tonumber(ARGV[1])
local member = ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, nBlocks do
  local pttl = redis.call('PTTL', KEYS[i])
  if pttl > wait then wait = pttl end
end
if wait > 0 then return wait end
local nb = #KEYS - nBlocks
for i = 1, nb do
  local key = KEYS[nBlocks + i]
  local limit = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w < 1 then w = 1 end
    if w > wait then wait = w end
  end
end
if wait > 0 or member == '' then return wait end
for i = 1, nb do
  local key = KEYS[nBlocks + i]
  redis.call('ZADD', key, now, member .. ':' .. i)
  redis.call('PEXPIRE', key, tonumber(ARGV[2 + 2 * i]))
end
return 0
`;

export interface QuotaGovernor {
  /**
   * Resolves once a call to `endpoint` may be sent, having taken its token; rejects only if
   * `signal` aborts. Take it right before the request leaves — after the body is serialized —
   * since the time between the grant and the arrival at Klaviyo is what the padding must cover.
   */
  take(scope: QuotaScope, endpoint: EndpointName, signal?: AbortSignal, cls?: PriorityClass): Promise<void>;
  /** Resolves once a token is available, without taking it (batchers wait here, then fill). */
  waitFree(scope: QuotaScope, endpoint: EndpointName, signal?: AbortSignal, cls?: PriorityClass): Promise<void>;
  /** Feeds a response's rate-limit headers back: a 429 blocks the bucket that answered. */
  observe(scope: QuotaScope, endpoint: EndpointName, info: RateLimitInfo & { status: number; origin?: 'gateway' | 'klaviyo' }): Promise<void>;
  /** How many ms `endpoint` is blocked for (0 = free); for metrics and tests. */
  blockedFor(scope: QuotaScope, endpoint: EndpointName): Promise<number>;
  /** Tokens left right now in each window (metrics: quota headroom). */
  headroom(scope: QuotaScope, endpoint: EndpointName): Promise<{ burst: number; steady: number; gateway?: number }>;
}

export function createQuotaGovernor(redis: RedisClient, prefix: string, limits: GovernorLimits = DEFAULT_LIMITS): QuotaGovernor {
  const tag = (scope: QuotaScope) => `${prefix}:gov:{${scope.scope}}`;
  const gatewayBlock = (s: QuotaScope) => `${tag(s)}:block:gateway`;
  const endpointBlock = (s: QuotaScope, e: EndpointName) => `${tag(s)}:block:${s.account}:${e}`;

  function limitsFor(e: EndpointName) {
    return limits.endpoints[e] ?? ENDPOINTS[e];
  }

  async function tryTake(scope: QuotaScope, endpoint: EndpointName, look = false): Promise<number> {
    const blocks = [endpointBlock(scope, endpoint)];
    const buckets: string[] = [];
    const args: (string | number)[] = [];
    const l = limitsFor(endpoint);
    buckets.push(`${tag(scope)}:${scope.account}:${endpoint}:1s`, `${tag(scope)}:${scope.account}:${endpoint}:60s`);
    args.push(l.burst, 1000 + limits.burstPaddingMs, l.steady, 60_000 + limits.steadyPaddingMs);
    if (scope.viaGateway) {
      blocks.push(gatewayBlock(scope));
      buckets.push(`${tag(scope)}:gateway:1s`);
      args.push(limits.gatewayPerSecond, 1000 + limits.burstPaddingMs);
    }
    const member = look ? '' : randomBytes(6).toString('base64url');
    const res = await redis.eval(TAKE_SCRIPT, blocks.length + buckets.length, ...blocks, ...buckets, blocks.length, member, ...args);
    return Number(res);
  }

  async function until(scope: QuotaScope, endpoint: EndpointName, look: boolean, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const wait = await tryTake(scope, endpoint, look);
      if (wait === 0) return;
      // A little jitter so that processes waiting on the same bucket do not all ask at once.
      await sleep(Math.min(wait, 1000) + Math.floor(Math.random() * 20), signal);
    }
  }

  return {
    take: (scope, endpoint, signal) => until(scope, endpoint, false, signal),
    waitFree: (scope, endpoint, signal) => until(scope, endpoint, true, signal),
    async observe(scope, endpoint, info) {
      let blockMs = 0;
      let key = endpointBlock(scope, endpoint);
      if (info.status === 429) {
        blockMs = info.retryAfterMs ?? 1000;
        if (info.origin === 'gateway') key = gatewayBlock(scope);
      } else if (info.remaining === 0 && info.resetMs !== undefined) {
        blockMs = info.resetMs;
      }
      if (blockMs > 0) {
        // Only ever lengthen a block: a late, shorter answer must not cut an earlier Retry-After short.
        const current = await redis.pttl(key);
        if (blockMs > current) await redis.set(key, '1', 'PX', Math.ceil(blockMs));
      }
    },
    async headroom(scope, endpoint) {
      const l = limitsFor(endpoint);
      const now = Number((await redis.time())[0]) * 1000;
      const count = (key: string, windowMs: number) => redis.zcount(key, now - windowMs, '+inf');
      const [b, st, gw] = await Promise.all([
        count(`${tag(scope)}:${scope.account}:${endpoint}:1s`, 1000 + limits.burstPaddingMs),
        count(`${tag(scope)}:${scope.account}:${endpoint}:60s`, 60_000 + limits.steadyPaddingMs),
        scope.viaGateway ? count(`${tag(scope)}:gateway:1s`, 1000 + limits.burstPaddingMs) : Promise.resolve(0),
      ]);
      return { burst: Math.max(0, l.burst - b), steady: Math.max(0, l.steady - st), ...(scope.viaGateway ? { gateway: Math.max(0, limits.gatewayPerSecond - gw) } : {}) };
    },
    async blockedFor(scope, endpoint) {
      const ms = await Promise.all([redis.pttl(endpointBlock(scope, endpoint)), scope.viaGateway ? redis.pttl(gatewayBlock(scope)) : -2]);
      return Math.max(0, ...ms);
    },
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
