/**
 * The quota governor: one limiter, atomic in Redis, shared by every worker process and machine.
 *
 * Each Klaviyo call needs a token from every bucket it is subject to:
 *  - the Maton gateway's 10 requests/s per API key, across all connections (docs/klaviyo-and-maton.md §4);
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
 *
 * It lives in src/ because both sides use it: the workers take tokens, the API reads headroom and
 * class shares for /ops/status (src/ops/status.ts).
 */
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis.ts';
import { luaScript } from '../lua/script.ts';
import { ENDPOINTS, GATEWAY_REQUESTS_PER_SECOND, type EndpointName } from '../klaviyo/endpoints.ts';
import type { RateLimitInfo } from '../klaviyo/client.ts';
import type { QuotaScope } from '../lanes.ts';
import type { PriorityClass } from '../priority.ts';
import { bucketBulkLog, bucketWaiters, governorKeys } from '../redis-keys.ts';

export type { QuotaScope };

export interface GovernorLimits {
  readonly gatewayPerSecond: number;
  readonly endpoints: Readonly<Partial<Record<EndpointName, { burst: number; steady: number }>>>;
  /** Added to each Klaviyo window's length to absorb network jitter between us and Klaviyo's counters. */
  readonly burstPaddingMs: number;
  /**
   * Added to the gateway's 1 s window (issue 19): the spread between our grant and the gateway's
   * count of the request, measured (GATEWAY_MARGIN_MS). Default GATEWAY_MARGIN_MS; the governor
   * widens it by itself if the gateway ever answers 429 (see `observe`).
   */
  readonly gatewayMarginMs?: number;
  /** How long a widened margin stays before it narrows a step (default GATEWAY_MARGIN_RELAX_MS). */
  readonly gatewayMarginRelaxMs?: number;
  readonly steadyPaddingMs: number;
  /**
   * Bulk's guaranteed share of every bucket while live also wants it (RELAY_CONFIG
   * `priorities.bulkMinShare`, 0–0.9): a steady live stream can never starve an import.
   */
  readonly bulkMinShare?: number;
  /** Gateway tokens per second that bulk leaves unused for live (`priorities.liveGatewayReserve`). */
  readonly liveGatewayReserve?: number;
}

export const DEFAULT_PRIORITY_LIMITS = { bulkMinShare: 0.2, liveGatewayReserve: 2 } as const;

/**
 * The gateway window's margin (issue 19). A sliding log of 10 entries per (1,000 + m) ms means any
 * 1,000 ms of *arrivals* holds at most 10 when every request's delay from its entry's time to the
 * gateway's count lies within a spread of m ms — whatever the gateway's fixed windows' alignment
 * (test/integration/quota-gateway-window.test.ts checks it at random alignments and jitters).
 * An entry is written at the grant and moved to the moment the request leaves (`Grant.sent`,
 * src/lua/quota-sent.lua), so a worker's stall between the two — 300–500 ms measured on an
 * overloaded machine, the cause of the 429s at a 40 ms margin then — is not part of the spread.
 * What is left (the socket, the network, the gateway's queueing) measured 1–13 ms from grant to
 * the simulator's count on a quiet 2-core machine (`npm run bench -- --only=accounts`, which reports
 * it); 40 ms is three times that and packs a key to 10/1.04 = 9.6 requests/s. A gateway 429, or a
 * send so late its entry had left the log, widens the margin (`observe`, `Grant.sent`); it narrows
 * back after GATEWAY_MARGIN_RELAX_MS without either. `limits.gatewayMarginMs` sets the base.
 */
export const GATEWAY_MARGIN_MS = 40;
/** A gateway 429 means the spread outgrew the margin: widen it by this, up to the old fixed pad. */
const GATEWAY_MARGIN_STEP_MS = 20;
const GATEWAY_MARGIN_MAX_MS = 250;
/** A widened margin narrows back by a step after this long without a reason to widen (a passing overload). */
export const GATEWAY_MARGIN_RELAX_MS = 5 * 60_000;

export const DEFAULT_LIMITS: GovernorLimits = {
  gatewayPerSecond: GATEWAY_REQUESTS_PER_SECOND,
  endpoints: {},
  // Covers the spread between our grant and Klaviyo's count: our own event loop, the network and
  // the far side's queueing. 100 ms let 3 gateway 429s through in a 400,000-event drain on this
  // 2-core machine (bench, 2026-11-27); 250 ms costs bursts 20% and the steady rate nothing.
  burstPaddingMs: 250,
  steadyPaddingMs: 1000,
  gatewayMarginMs: GATEWAY_MARGIN_MS,
  ...DEFAULT_PRIORITY_LIMITS,
};

/**
 * Classes (issue 12). Every grant, live or bulk, goes into the same sliding logs, and a grant needs
 * room in every log: so no limit — gateway, burst, steady — is ever exceeded, whatever the classes
 * do. On top of that, per bucket, in the same atomic call:
 *  - `<bucket>:bulk` logs bulk's own grants (same window), to know bulk's share of the bucket;
 *  - `<bucket>:want:live` / `<bucket>:want:bulk` hold who is waiting for that bucket right now:
 *    sorted sets of waiter ids scored by a deadline (now + WANT_TTL_MS), refreshed each time the
 *    waiter asks again and removed when it is served, gives up or stops needing that bucket.
 *    Not one flag per scope: a live event waiting for create_event's own steady window must not
 *    hold bulk back on bulk_create_events, a bucket the live waiter does not need. Not a plain
 *    flag with a TTL either: bulk would keep yielding for the whole TTL after the last live waiter
 *    was served; an id set empties the moment the last waiter leaves, and the deadline only
 *    matters for a waiter that died (or lost Redis) while waiting.
 *  - A waiter registers only on the buckets that hold it: those whose wait is within
 *    WANT_SLACK_MS of its longest. A bucket that frees long before another one holds the waiter
 *    anyway cannot help it now, and yielding it would only idle it (it registers there later if
 *    it still needs it then).
 *  - Bulk: its limit on the gateway bucket is the limit − liveGatewayReserve, so a live call finds
 *    gateway room without waiting at all. While a live waiter wants a bucket, bulk yields it
 *    (asks again after YIELD_MS) unless bulk holds less than its minimum share of it; below its
 *    minimum share bulk may use the whole bucket (the reserve included: the minimum wins).
 *  - Live: while a bulk waiter wants a bucket, live may fill it only up to
 *    limit − (bulk's minimum − bulk's count), i.e. it leaves bulk its minimum.
 *  The minimum share of a bucket is ceil(bulkMinShare × limit), but never the whole bucket
 *  (at most limit − 1: a 1-per-second bucket is not handed to bulk for good).
 *
 * Bound (test/integration/quota-governor-classes.test.ts): when bulk alone saturates a bucket, a
 * live taker waits at most that bucket's window (1 s + padding for a burst window) plus its poll
 * jitter: it registers in the same call that refuses it, from then bulk (above its minimum) takes
 * nothing from that bucket, so the first slot that frees is the live waiter's.
 *
 * The take is one Lua call, src/lua/quota-take.lua: its header says what each key and argument
 * is, and it sets YIELD_MS, WANT_TTL_MS and WANT_SLACK_MS.
 */
/**
 * Lanes (issue 19). The gateway's bucket is the one lanes share: every Klaviyo account reached
 * through one Maton key. Its grants go in a fair order — start-time fair queueing by lane weight
 * (QuotaScope.weight) among the lanes of the same class waiting for it — rather than to whoever
 * polls first: a lane told to wait is told when the slot that will be its own frees (its rank
 * among the waiting lanes, counted along the log's expiries), so waiters sleep until their turn.
 * A lane that stops asking lapses from the order within FAIR_LAPSE_MS of its next ask, and its
 * share goes to the others (test/integration/quota-gateway-fairness.test.ts).
 * While lanes of a class compete (another lane's work of the class waits, or was granted in the
 * last FAIR_LAPSE_MS), that class's grants are also paced, one per window/limit, on a schedule of
 * its own: so the order applies to every slot, not only the first of a burst. A class with no
 * competing lane is not paced: a lane alone on its key runs as before issue 19, and a live call
 * that finds a free gateway slot takes it at once — bulk's pacing never delays it (the bound of
 * issue 12, quota-governor-classes (3)).
 * Every gateway grant also goes into a 60 s log per key, tagged with its lane: the key's
 * utilisation and each lane's share in /ops/status, metrics and `relay status` (`gatewayUse`).
 */
/** The longest sleep between a waiter's asks; its entry in a waiter set lives twice that. */
const POLL_MAX_MS = 1_000;
const TAKE = luaScript({
  name: 'quota-take',
  keys: ['blocks[]', 'buckets[]', 'gateway[]'],
  args: ['nBlocks', 'mode', 'waiter', 'cls', 'registered', 'lane', 'weight', 'fair', 'buckets[]'],
  reply: Number,
  constants: { WANT_TTL_MS: 2 * POLL_MAX_MS },
});
const SENT = luaScript({
  name: 'quota-sent',
  keys: ['log', 'minute'],
  args: ['member', 'minuteMember', 'window'],
  reply: Number,
});

/** Calls per class over the last 60 s (from the steady windows' logs). */
export interface ClassShare {
  readonly live: number;
  readonly bulk: number;
}
export interface ScopeShare {
  readonly windowMs: number;
  /** Every endpoint of the scope's account together (each call counts once, in its endpoint). */
  readonly total: ClassShare;
  /** Only the endpoints called in the window. */
  readonly endpoints: Partial<Record<EndpointName, ClassShare>>;
}
export const SHARE_WINDOW_MS = 60_000;

/** Gateway calls of one key over the last minute, in total and per lane (its Klaviyo account). */
export interface GatewayUse {
  readonly windowMs: number;
  readonly calls: number;
  readonly lanes: Readonly<Record<string, number>>;
}

export interface QuotaGovernor {
  /**
   * Resolves once a call to `endpoint` may be sent, having taken its token; rejects only if
   * `signal` aborts. Take it right before the request leaves — after the body is serialized —
   * since the time between the grant and the arrival at Klaviyo is what the padding must cover.
   * `cls` (default live) decides who goes first when both classes want the same bucket.
   */
  take(scope: QuotaScope, endpoint: EndpointName, signal?: AbortSignal, cls?: PriorityClass): Promise<Grant>;
  /** Resolves once a token is available, without taking it (batchers wait here, then fill). */
  waitFree(scope: QuotaScope, endpoint: EndpointName, signal?: AbortSignal, cls?: PriorityClass): Promise<void>;
  /** Feeds a response's rate-limit headers back: a 429 blocks the bucket that answered. */
  observe(scope: QuotaScope, endpoint: EndpointName, info: RateLimitInfo & { status: number; origin?: 'gateway' | 'klaviyo' }): Promise<void>;
  /** How many ms `endpoint` is blocked for (0 = free); for metrics and tests. */
  blockedFor(scope: QuotaScope, endpoint: EndpointName): Promise<number>;
  /** Tokens left right now in each window (metrics: quota headroom). */
  headroom(scope: QuotaScope, endpoint: EndpointName): Promise<{ burst: number; steady: number; gateway?: number }>;
  /** Calls per class in the last 60 s, per endpoint and in total (status, metrics: class share). */
  share(scope: QuotaScope): Promise<ScopeShare>;
  /** The key's gateway calls in the last 60 s, per lane (utilisation and lane shares). */
  gatewayUse(scope: QuotaScope): Promise<GatewayUse>;
  /** The gateway window's margin in use by this process (ms). */
  gatewayMarginMs(): number;
}

/** A token taken. */
export interface Grant {
  /**
   * The request is leaving now: call right before it is sent. Moves the grant's entry in the
   * gateway's logs to this moment (see GATEWAY_MARGIN_MS); nothing for a call not via the gateway.
   * Never waits and never fails the call: without Redis the entry stays at the grant's time.
   */
  sent(): void;
}
const NOTHING_TO_STAMP: Grant = Object.freeze({ sent: () => undefined });

/** A lane's id in the fair order and the minute log: its Klaviyo account, with the separator escaped. */
export const laneTag = (scope: QuotaScope) => scope.klaviyoAccount.replaceAll('%', '%25').replaceAll('|', '%7C');
const untag = (tag: string) => tag.replaceAll('%7C', '|').replaceAll('%25', '%');

interface Bucket {
  readonly key: string;
  readonly limit: number;
  readonly windowMs: number;
  readonly bulkLimit: number;
  readonly bulkMin: number;
}

/** Bulk's minimum of a bucket: ceil(share × limit), never the whole bucket (see above). */
export function bulkMinimum(share: number, limit: number): number {
  // The epsilon keeps 0.1 × 30 = 3.0000000000000004 from becoming 4.
  return Math.max(0, Math.min(limit - 1, Math.ceil(share * limit - 1e-9)));
}

export function createQuotaGovernor(redis: RedisClient, prefix: string, limits: GovernorLimits = DEFAULT_LIMITS): QuotaGovernor {
  TAKE.define(redis);
  SENT.define(redis);
  const scopeKeys = (scope: QuotaScope) => governorKeys(prefix, scope);
  const gatewayBlock = (s: QuotaScope) => scopeKeys(s).gatewayBlock;
  const endpointBlock = (s: QuotaScope, e: EndpointName) => scopeKeys(s).endpointBlock(e);
  const steadyLog = (s: QuotaScope, e: EndpointName) => scopeKeys(s).steady(e);
  const minShare = limits.bulkMinShare ?? DEFAULT_PRIORITY_LIMITS.bulkMinShare;
  const reserve = limits.liveGatewayReserve ?? DEFAULT_PRIORITY_LIMITS.liveGatewayReserve;
  const baseMargin = limits.gatewayMarginMs ?? GATEWAY_MARGIN_MS;
  let gatewayMargin = baseMargin;
  let marginChangedAt = 0;
  /** Evidence that the spread outgrew the margin (a gateway 429, a send that outlasted its entry). */
  const widenMargin = () => {
    gatewayMargin = Math.min(Math.max(GATEWAY_MARGIN_MAX_MS, baseMargin), gatewayMargin + GATEWAY_MARGIN_STEP_MS);
    marginChangedAt = Date.now();
  };
  const gatewayWindow = () => {
    if (gatewayMargin > baseMargin && Date.now() - marginChangedAt >= (limits.gatewayMarginRelaxMs ?? GATEWAY_MARGIN_RELAX_MS)) {
      gatewayMargin = Math.max(baseMargin, gatewayMargin - GATEWAY_MARGIN_STEP_MS);
      marginChangedAt = Date.now();
    }
    return 1000 + gatewayMargin;
  };

  function limitsFor(e: EndpointName) {
    return limits.endpoints[e] ?? ENDPOINTS[e];
  }

  /** The gateway's bucket's position (1-based, as the Lua numbers them) among a call's buckets: after the endpoint's two. */
  const GATEWAY_BUCKET = 3;
  function bucketsFor(scope: QuotaScope, endpoint: EndpointName): Bucket[] {
    const l = limitsFor(endpoint);
    const bucket = (key: string, limit: number, windowMs: number, bulkLimit = limit): Bucket => ({
      key,
      limit,
      windowMs,
      bulkLimit,
      bulkMin: bulkMinimum(minShare, limit),
    });
    const buckets = [
      bucket(scopeKeys(scope).burst(endpoint), l.burst, 1000 + limits.burstPaddingMs),
      bucket(steadyLog(scope, endpoint), l.steady, 60_000 + limits.steadyPaddingMs),
    ];
    if (scope.viaGateway) {
      const gw = limits.gatewayPerSecond;
      buckets.push(bucket(scopeKeys(scope).gatewayBurst, gw, gatewayWindow(), Math.max(1, gw - reserve)));
    }
    return buckets;
  }

  function tryTake(scope: QuotaScope, endpoint: EndpointName, look: boolean, cls: PriorityClass, waiter: string, registered: boolean): Promise<number> {
    const blocks = [endpointBlock(scope, endpoint)];
    if (scope.viaGateway) blocks.push(gatewayBlock(scope));
    const bucketKeys: string[] = [];
    const bucketArgs: number[] = [];
    const buckets = bucketsFor(scope, endpoint);
    for (const b of buckets) {
      bucketKeys.push(b.key, bucketBulkLog(b.key), bucketWaiters(b.key, 'live'), bucketWaiters(b.key, 'bulk'));
      bucketArgs.push(b.limit, b.windowMs, b.bulkLimit, b.bulkMin);
    }
    const k = scopeKeys(scope);
    // The gateway's bucket (GATEWAY_BUCKET, last in bucketsFor): the one granted in the fair order.
    const gateway = scope.viaGateway ? [k.gatewayWaiting, k.gatewayTags, k.gatewayMinute] : [];
    return TAKE.run(redis, {
      keys: { blocks, buckets: bucketKeys, gateway },
      args: {
        nBlocks: blocks.length,
        mode: look ? 'look' : 'take',
        waiter,
        cls,
        registered: registered ? '1' : '0',
        lane: laneTag(scope),
        weight: scope.weight ?? 1,
        fair: scope.viaGateway ? GATEWAY_BUCKET : 0,
        buckets: bucketArgs,
      },
    });
  }

  /** A waiter that gives up leaves at once, so the other class stops yielding to it now, not at its deadline. */
  function forget(scope: QuotaScope, endpoint: EndpointName, cls: PriorityClass, waiter: string): void {
    const pipe = redis.pipeline();
    for (const b of bucketsFor(scope, endpoint)) pipe.zrem(bucketWaiters(b.key, cls), waiter);
    if (scope.viaGateway) pipe.zrem(scopeKeys(scope).gatewayWaiting, `${cls}|${laneTag(scope)}|${waiter}`);
    pipe.exec().catch(() => undefined);
  }

  /** How a grant's request says it leaves: its entries in the gateway's logs (named as the Lua names them) move to now. */
  function grantOf(scope: QuotaScope, waiter: string): Grant {
    if (!scope.viaGateway) return NOTHING_TO_STAMP;
    const k = scopeKeys(scope);
    const window = gatewayWindow();
    return {
      sent() {
        SENT.run(redis, {
          keys: { log: k.gatewayBurst, minute: k.gatewayMinute },
          args: { member: `${waiter}:${GATEWAY_BUCKET}`, minuteMember: `${laneTag(scope)}|${waiter}:${GATEWAY_BUCKET}`, window },
        })
          .then((moved) => {
            if (moved === 0) widenMargin();
          })
          .catch(() => undefined);
      },
    };
  }

  async function until(scope: QuotaScope, endpoint: EndpointName, look: boolean, cls: PriorityClass, signal?: AbortSignal): Promise<string> {
    const waiter = randomBytes(6).toString('base64url');
    let registered = false;
    try {
      for (;;) {
        signal?.throwIfAborted();
        const wait = await tryTake(scope, endpoint, look, cls, waiter, registered);
        if (wait === 0) return waiter;
        registered = true;
        // The wait is until a slot that can be this waiter's frees (the fair order ranks lanes);
        // 0–2 ms of jitter only keeps two waiters of one lane from asking in the same millisecond —
        // each millisecond of delay past the slot is capacity lost.
        await sleep(Math.min(wait, POLL_MAX_MS) + Math.floor(Math.random() * 3), signal);
      }
    } catch (err) {
      if (registered) forget(scope, endpoint, cls, waiter);
      throw err;
    }
  }

  return {
    take: async (scope, endpoint, signal, cls = 'live') => grantOf(scope, await until(scope, endpoint, false, cls, signal)),
    async waitFree(scope, endpoint, signal, cls = 'live') {
      await until(scope, endpoint, true, cls, signal);
    },
    async observe(scope, endpoint, info) {
      let blockMs = 0;
      let key = endpointBlock(scope, endpoint);
      if (info.status === 429) {
        blockMs = info.retryAfterMs ?? 1000;
        if (info.origin === 'gateway') {
          key = gatewayBlock(scope);
          // The gateway counted more than its limit in one of its windows: the spread between our
          // sends and its count is wider than the margin (a slower network, a busier machine).
          widenMargin();
        }
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
        count(scopeKeys(scope).burst(endpoint), 1000 + limits.burstPaddingMs),
        count(steadyLog(scope, endpoint), 60_000 + limits.steadyPaddingMs),
        scope.viaGateway ? count(scopeKeys(scope).gatewayBurst, gatewayWindow()) : Promise.resolve(0),
      ]);
      return {
        burst: Math.max(0, l.burst - b),
        steady: Math.max(0, l.steady - st),
        ...(scope.viaGateway ? { gateway: Math.max(0, limits.gatewayPerSecond - gw) } : {}),
      };
    },
    async share(scope) {
      const [sec, usec] = await redis.time();
      const since = Number(sec) * 1000 + Math.floor(Number(usec) / 1000) - SHARE_WINDOW_MS;
      const names = Object.keys(ENDPOINTS) as EndpointName[];
      // One round trip; every key is in the scope's slot, so a Cluster takes the pipeline whole.
      const pipe = redis.pipeline();
      for (const e of names) pipe.zcount(steadyLog(scope, e), since, '+inf').zcount(bucketBulkLog(steadyLog(scope, e)), since, '+inf');
      const res = (await pipe.exec()) ?? [];
      const endpoints: Partial<Record<EndpointName, ClassShare>> = {};
      let live = 0;
      let bulk = 0;
      names.forEach((e, i) => {
        const [errAll, all] = res[2 * i] ?? [];
        const [errBulk, b] = res[2 * i + 1] ?? [];
        if (errAll || errBulk) throw errAll ?? errBulk;
        const calls = Number(all);
        if (calls === 0) return;
        // Both logs are trimmed together, but a bulk grant may land between the two counts.
        const share = { live: Math.max(0, calls - Number(b)), bulk: Math.min(calls, Number(b)) };
        endpoints[e] = share;
        live += share.live;
        bulk += share.bulk;
      });
      return { windowMs: SHARE_WINDOW_MS, total: { live, bulk }, endpoints };
    },
    async gatewayUse(scope) {
      const [sec, usec] = await redis.time();
      const since = Number(sec) * 1000 + Math.floor(Number(usec) / 1000) - SHARE_WINDOW_MS;
      const members = await redis.zrangebyscore(scopeKeys(scope).gatewayMinute, since, '+inf');
      const lanes: Record<string, number> = {};
      for (const m of members) {
        const lane = untag(m.slice(0, m.lastIndexOf('|')));
        lanes[lane] = (lanes[lane] ?? 0) + 1;
      }
      return { windowMs: SHARE_WINDOW_MS, calls: members.length, lanes };
    },
    gatewayMarginMs: () => gatewayMargin,
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
