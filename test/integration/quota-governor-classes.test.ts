/**
 * The quota governor with priority classes (issue 12 §4), on real Redis, with small limits so that
 * each case runs in seconds. Grant times are taken on the client right after a take resolves: a
 * grant is seen at most a few ms after Redis made it, so counting in 1,000 ms intervals against
 * windows of 1,250 ms (burst padding 250 ms) leaves that delay 250 ms of room.
 */
import { setMaxListeners } from 'node:events';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { EndpointName } from '../../src/klaviyo/endpoints.ts';
import type { PriorityClass } from '../../src/priority.ts';
import { bucketWaiters, governorKeys } from '../../src/redis-keys.ts';
import { createQuotaGovernor, type GovernorLimits, type QuotaGovernor, type QuotaScope } from '../../src/quota/governor.ts';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.ts';

const prefix = uniquePrefix('govcls');
// Two connections, two governors: two "processes" sharing one Redis.
const a = new Redis(REDIS_URL);
const b = new Redis(REDIS_URL);
afterAll(async () => {
  a.disconnect();
  b.disconnect();
  await deleteKeys(`${prefix}:*`);
});

const WINDOW_MS = 1250; // 1 s burst window + burstPaddingMs below (and the gateway's margin, the same here)
const base = { burstPaddingMs: 250, gatewayMarginMs: 250, steadyPaddingMs: 0, bulkMinShare: 0.2, liveGatewayReserve: 2 };
const scopeFor = (name: string): QuotaScope => ({ keyId: name, klaviyoAccount: 'acct', viaGateway: true });
const governors = (limits: GovernorLimits): [QuotaGovernor, QuotaGovernor] => [createQuotaGovernor(a, prefix, limits), createQuotaGovernor(b, prefix, limits)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Grant {
  readonly t: number;
  readonly cls: PriorityClass;
  readonly endpoint: EndpointName;
}

/**
 * `n` takers per governor, each taking again as soon as it is served (a constant stream) or after
 * a random pause of up to `pauseMs`, until `ms` have passed; then the ones still waiting give up.
 */
function stream(
  gs: QuotaGovernor[],
  scope: QuotaScope,
  endpoint: EndpointName,
  cls: PriorityClass,
  n: number,
  ms: number,
  grants: Grant[],
  ctl = new AbortController(),
  pauseMs = 0,
): Promise<void> {
  const end = Date.now() + ms;
  setMaxListeners(0, ctl.signal); // one signal for every taker of the stream
  setTimeout(() => ctl.abort(new Error('stream over')), ms).unref();
  const loop = async (g: QuotaGovernor) => {
    while (Date.now() < end) {
      try {
        await g.take(scope, endpoint, ctl.signal, cls);
      } catch {
        return;
      }
      grants.push({ t: Date.now(), cls, endpoint });
      if (pauseMs > 0) await sleep(Math.floor(Math.random() * pauseMs));
    }
  };
  return Promise.all(gs.flatMap((g) => Array.from({ length: n }, () => loop(g)))).then(() => undefined);
}

/** The most grants seen in any interval shorter than `ms`. */
function peak(times: number[], ms: number): number {
  const t = [...times].sort((x, y) => x - y);
  let best = 0;
  for (let i = 0, j = 0; j < t.length; j++) {
    while (t[j]! - t[i]! >= ms) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await fn();
  return Date.now() - t0;
}

describe('quota governor: live and bulk classes (real Redis)', () => {
  it('(1) under a constant live stream, bulk still gets its minimum share of a contended bucket (20% ± 5%)', async () => {
    // bulk_create_events' burst bucket binds: 20 per window, bulk's minimum ceil(0.2 × 20) = 4.
    const gs = governors({ ...base, gatewayPerSecond: 1000, endpoints: { bulk_create_events: { burst: 20, steady: 100_000 } } });
    const scope = scopeFor('share');
    const grants: Grant[] = [];
    const t0 = Date.now();
    // Live outnumbers bulk 8 to 1: first come, first served would give bulk about 1/9 (11%). Two
    // bulk callers per governor (and 16 live), so that one of them is waiting while the other
    // records its grant: the minimum share is for bulk work that waits, and on a loaded machine a
    // lone caller's turnaround could miss windows that are then (rightly) live's.
    await Promise.all([stream(gs, scope, 'bulk_create_events', 'live', 16, 7000, grants), stream(gs, scope, 'bulk_create_events', 'bulk', 2, 7000, grants)]);
    // The first window is a free-for-all (nobody waits yet); measure from the steady state on.
    const steady = grants.filter((g) => g.t >= t0 + 2000);
    const bulk = steady.filter((g) => g.cls === 'bulk').length;
    expect(steady.length).toBeGreaterThanOrEqual(50);
    const share = bulk / steady.length;
    expect(share, `bulk ${bulk} of ${steady.length}`).toBeGreaterThanOrEqual(0.15);
    expect(share, `bulk ${bulk} of ${steady.length}`).toBeLessThanOrEqual(0.25);
    // Every class counts in the same log: the bucket still never holds more than 20.
    expect(
      peak(
        grants.map((g) => g.t),
        1000,
      ),
    ).toBeLessThanOrEqual(20);
  });

  it('(2) with live quiet, bulk fills the gateway to its limit minus the live reserve, and an endpoint bucket to its limit', async () => {
    // The gateway (10/s) binds; bulk may hold 10 − 2 of it.
    const gw = governors({ ...base, gatewayPerSecond: 10, endpoints: { bulk_create_events: { burst: 50, steady: 100_000 } } });
    const g1: Grant[] = [];
    const t1 = Date.now();
    await stream(gw, scopeFor('fill-gw'), 'bulk_create_events', 'bulk', 4, 4 * WINDOW_MS, g1);
    expect(
      peak(
        g1.map((g) => g.t),
        1000,
      ),
    ).toBe(8);
    // Filled window after window: 8 in each of the first three.
    expect(g1.filter((g) => g.t < t1 + 3 * WINDOW_MS).length).toBe(24);

    // An endpoint bucket (6/s) binds: the reserve is the gateway's only, so bulk gets all 6.
    const ep = governors({ ...base, gatewayPerSecond: 100, endpoints: { bulk_create_events: { burst: 6, steady: 100_000 } } });
    const g2: Grant[] = [];
    const t2 = Date.now();
    await stream(ep, scopeFor('fill-ep'), 'bulk_create_events', 'bulk', 4, 4 * WINDOW_MS, g2);
    expect(
      peak(
        g2.map((g) => g.t),
        1000,
      ),
    ).toBe(6);
    expect(g2.filter((g) => g.t < t2 + 3 * WINDOW_MS).length).toBe(18);
  });

  it('(3) while bulk saturates a bucket, a live take waits at most one window (+ poll jitter); on the gateway it does not wait', async () => {
    // Bound proved: the live taker registers in the same atomic call that refuses it; from then on
    // bulk (above its minimum) takes nothing from that bucket, so the first slot that frees — at
    // most one window after the oldest grant — is live's. It asks again within its wait + 20 ms
    // of jitter; 100 ms more covers a round trip on a busy machine.
    const BOUND_MS = WINDOW_MS + 100;
    const gs = governors({ ...base, gatewayPerSecond: 100, endpoints: { bulk_create_events: { burst: 5, steady: 100_000 } } });
    const scope = scopeFor('bound');
    const grants: Grant[] = [];
    const stop = new AbortController();
    const bulk = stream(gs, scope, 'bulk_create_events', 'bulk', 5, 15_000, grants, stop);
    await sleep(1500);
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      await sleep(Math.floor(Math.random() * 400));
      const g = gs[i % 2]!;
      waits.push(
        await timed(() => (i === 5 ? g.waitFree(scope, 'bulk_create_events', undefined, 'live') : g.take(scope, 'bulk_create_events', undefined, 'live'))),
      );
    }
    stop.abort(new Error('done'));
    await bulk;
    expect(Math.max(...waits), `live waits: ${waits.join(', ')} ms`).toBeLessThanOrEqual(BOUND_MS);
    // The bucket was saturated: bulk took everything live left.
    expect(
      peak(
        grants.map((g) => g.t),
        1000,
      ),
    ).toBe(5);

    // The gateway: bulk holds at most 10 − 2 of it, so a live call finds room at once.
    const gw = governors({ ...base, gatewayPerSecond: 10, endpoints: { bulk_create_events: { burst: 50, steady: 100_000 } } });
    const s2 = scopeFor('bound-gw');
    const g2: Grant[] = [];
    const bulk2 = stream(gw, s2, 'bulk_create_events', 'bulk', 4, 4000, g2);
    await sleep(1500);
    const gwWaits: number[] = [];
    for (let i = 0; i < 2; i++) {
      gwWaits.push(await timed(() => gw[i]!.take(s2, 'create_event', undefined, 'live')));
      await sleep(700);
    }
    await bulk2;
    expect(Math.max(...gwWaits), `live waits on the gateway: ${gwWaits.join(', ')} ms`).toBeLessThan(100);
  });

  it('(4) many takers of both classes on two governors never exceed any limit (gateway, burst, steady)', async () => {
    // Takers pause at random between takes, so every mix occurs: live alone, bulk alone, both
    // waiting, bulk below and above its minimum, the gateway or an endpoint binding.
    const limits: GovernorLimits = {
      ...base,
      bulkMinShare: 0.3,
      gatewayPerSecond: 8,
      endpoints: { create_event: { burst: 5, steady: 20 }, bulk_create_events: { burst: 4, steady: 16 } },
    };
    const gs = governors(limits);
    const scope = scopeFor('invariant');
    const grants: Grant[] = [];
    const RUN_MS = 8000;
    await Promise.all(
      (['create_event', 'bulk_create_events'] as const).flatMap((e) =>
        (['live', 'bulk'] as const).map((cls) => stream(gs, scope, e, cls, 3, RUN_MS, grants, undefined, 400)),
      ),
    );
    const times = (e?: EndpointName) => grants.filter((g) => !e || g.endpoint === e).map((g) => g.t);
    expect(peak(times(), 1000)).toBeLessThanOrEqual(8);
    expect(peak(times('create_event'), 1000)).toBeLessThanOrEqual(5);
    expect(peak(times('bulk_create_events'), 1000)).toBeLessThanOrEqual(4);
    // The whole run fits in one steady (60 s) window: the steady limits were reached and held.
    expect(times('create_event').length).toBe(20);
    expect(times('bulk_create_events').length).toBe(16);
    // Both classes were served on both endpoints (the test exercised every path).
    for (const e of ['create_event', 'bulk_create_events'] as const)
      for (const cls of ['live', 'bulk'] as const)
        expect(
          grants.some((g) => g.endpoint === e && g.cls === cls),
          `${cls} on ${e}`,
        ).toBe(true);
    const share = await gs[0].share(scope);
    expect(share.total.live + share.total.bulk).toBe(36);
  });

  it('(5) a live waiter on create_event (its own steady window full) does not slow bulk on bulk_create_events', async () => {
    const gs = governors({
      ...base,
      gatewayPerSecond: 100,
      endpoints: { create_event: { burst: 100, steady: 3 }, bulk_create_events: { burst: 5, steady: 100_000 } },
    });
    const scope = scopeFor('separate');
    for (let i = 0; i < 3; i++) await gs[0].take(scope, 'create_event', undefined, 'live');
    // Live waiters that will wait for about a minute (create_event's steady window).
    const ctl = new AbortController();
    const held: Grant[] = [];
    const live = stream(gs, scope, 'create_event', 'live', 2, 60_000, held, ctl);
    await sleep(300);
    expect(await a.zcard(bucketWaiters(governorKeys(prefix, scope).steady('create_event'), 'live'))).toBe(4);

    const grants: Grant[] = [];
    const t0 = Date.now();
    await stream(gs, scope, 'bulk_create_events', 'bulk', 3, 3 * WINDOW_MS + 200, grants);
    ctl.abort(new Error('done'));
    await live;
    expect(held).toHaveLength(0);
    // Bulk at the bucket's full rate (5 per window), not at its minimum share (1 per window).
    expect(
      peak(
        grants.map((g) => g.t),
        1000,
      ),
    ).toBe(5);
    expect(grants.filter((g) => g.t < t0 + 3 * WINDOW_MS).length).toBe(15);
  });

  it('a live waiter that gives up stops holding bulk back at once', async () => {
    const gs = governors({ ...base, gatewayPerSecond: 100, endpoints: { bulk_create_events: { burst: 4, steady: 100_000 } } });
    const scope = scopeFor('gives-up');
    for (let i = 0; i < 4; i++) await gs[0].take(scope, 'bulk_create_events', undefined, 'bulk');
    const filledAt = Date.now();
    const ctl = new AbortController();
    const live = gs[1].take(scope, 'bulk_create_events', ctl.signal, 'live').then(
      () => 'served',
      () => 'gave up',
    );
    await sleep(100);
    ctl.abort(new Error('caller went away'));
    expect(await live).toBe('gave up');
    // Once the window has room again bulk goes at once: it does not yield to a waiter that left
    // (whose registration would otherwise last until its deadline, ~2 s after it asked).
    // (The first take is below bulk's minimum, 1, and would go anyway; the next two would not.)
    await sleep(filledAt + WINDOW_MS + 20 - Date.now());
    expect(
      await timed(async () => {
        for (let i = 0; i < 3; i++) await gs[0].take(scope, 'bulk_create_events', undefined, 'bulk');
      }),
    ).toBeLessThan(150);
  });

  it('share(): calls per class over the last minute, per endpoint and in total', async () => {
    const [g] = governors({ ...base, gatewayPerSecond: 100, endpoints: {} });
    const scope = scopeFor('share-count');
    for (let i = 0; i < 3; i++) await g.take(scope, 'create_event', undefined, 'live');
    for (let i = 0; i < 2; i++) await g.take(scope, 'create_event', undefined, 'bulk');
    await g.take(scope, 'bulk_create_events', undefined, 'bulk');
    await g.take(scope, 'get_profiles'); // the default class is live
    await g.waitFree(scope, 'create_event', undefined, 'bulk'); // a look takes nothing
    await g.take({ ...scope, klaviyoAccount: 'other' }, 'create_event', undefined, 'bulk'); // another account of the key
    expect(await g.share(scope)).toEqual({
      windowMs: 60_000,
      total: { live: 4, bulk: 3 },
      endpoints: { create_event: { live: 3, bulk: 2 }, bulk_create_events: { live: 0, bulk: 1 }, get_profiles: { live: 1, bulk: 0 } },
    });
  });
});
