import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createQuotaGovernor } from '../../src/quota/governor.ts';
import { privateRedis } from '../support/private-redis.ts';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.ts';

const prefix = uniquePrefix('gov');
const a = new Redis(REDIS_URL);
const b = new Redis(REDIS_URL);
afterAll(async () => {
  a.disconnect();
  b.disconnect();
  await deleteKeys(`${prefix}:*`);
});

const limits = { gatewayPerSecond: 10, endpoints: { create_event: { burst: 5, steady: 12 } }, burstPaddingMs: 50, steadyPaddingMs: 0 };
const scope = { keyId: 's1', klaviyoAccount: 'acct', viaGateway: true };

describe('quota governor (real Redis)', () => {
  it('two governors sharing Redis never grant more than the burst in any 1 s interval', async () => {
    const g1 = createQuotaGovernor(a, prefix, limits);
    const g2 = createQuotaGovernor(b, prefix, limits);
    const grants: number[] = [];
    const take = async (g: typeof g1) => {
      await g.take(scope, 'create_event');
      grants.push(Date.now());
    };
    // 12 tokens wanted; burst 5/s means at least two extra seconds.
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 12 }, (_, i) => take(i % 2 ? g1 : g2)));
    grants.sort((x, y) => x - y);
    for (let i = 5; i < grants.length; i++) expect(grants[i]! - grants[i - 5]!).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
  });

  it('a 429 blocks the bucket for Retry-After; a gateway 429 blocks the gateway for every endpoint', async () => {
    const g = createQuotaGovernor(a, prefix, limits);
    const s = { ...scope, keyId: 's2' };
    await g.observe(s, 'bulk_create_events', { status: 429, retryAfterMs: 1500, origin: 'klaviyo' });
    expect(await g.blockedFor(s, 'bulk_create_events')).toBeGreaterThan(1000);
    expect(await g.blockedFor(s, 'create_event')).toBe(0);
    const t0 = Date.now();
    await g.take(s, 'bulk_create_events');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1300);

    await g.observe(s, 'create_event', { status: 429, retryAfterMs: 800, origin: 'gateway' });
    expect(await g.blockedFor(s, 'get_profiles')).toBeGreaterThan(500);
  });

  it('RateLimit-Remaining: 0 holds the endpoint until the reset', async () => {
    const g = createQuotaGovernor(a, prefix, limits);
    const s = { ...scope, keyId: 's3' };
    await g.observe(s, 'create_event', { status: 202, remaining: 0, resetMs: 700 });
    expect(await g.blockedFor(s, 'create_event')).toBeGreaterThan(400);
  });

  it('sends its script once per Redis (EVALSHA), and again to a Redis that lost it (NOSCRIPT after a restart)', async () => {
    // A Redis of its own: a fresh script cache, and one we may restart.
    const server = await privateRedis();
    const conn = new Redis(server.url, { maxRetriesPerRequest: null });
    const calls = async (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(await conn.info('commandstats'))?.[1] ?? 0);
    try {
      const g = createQuotaGovernor(conn, prefix, limits);
      for (let i = 0; i < 5; i++) await g.take(scope, 'create_event');
      expect(await calls('eval')).toBe(1);
      // ioredis sends EVAL first on a connection (which loads the script), EVALSHA after it (src/lua/script.ts).
      expect(await calls('evalsha')).toBe(4);
      await server.stop();
      await server.start();
      await g.take(scope, 'create_event');
      expect(await calls('eval')).toBe(1); // counters restart with the server: this is the new one's
    } finally {
      conn.disconnect();
      await server.destroy();
    }
  });
});
