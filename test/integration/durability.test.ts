/**
 * Issue #5: durable acknowledgement and backpressure. A 2xx means the work is in Redis or in the
 * local spool (fsync'ed); when Redis returns, the spool moves into it in order; past the spool's
 * limit, and past the backlog limit, the answer is 503 with Retry-After.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventKey, jobIdForItems } from '../../src/item-keys.ts';
import { CONNECTION, RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { privateRedis, type PrivateRedis } from '../support/private-redis.ts';
import { waitUntil } from '../support/wait.ts';

let h: Harness | undefined;
let redis: PrivateRedis | undefined;
afterEach(async () => {
  await h?.close().catch(() => undefined);
  await redis?.destroy();
  h = undefined;
  redis = undefined;
});

const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;
const event = (tag: string, i: number) => ({ id: `${tag}-${i}`, event: 'Placed Order', profile: { email: `${tag}-${i}@example.com` } });

describe('Redis down', () => {
  it("accepts into the fsync'ed spool, then moves it into Redis in order: every event delivered once", async () => {
    redis = await privateRedis();
    h = await startHarness({ name: 'spool', env: { REDIS_URL: redis.url } });
    const tag = uniq('sp');
    expect((await h.post('/v1/events', event(tag, 0))).status).toBe(202);
    await waitUntil('the first event delivered', () => h!.sim.eventsFor(CONNECTION, { email: `${tag}-0@example.com` }).length === 1);

    await redis.stop();
    const spooled = [];
    for (let i = 1; i <= 20; i++) spooled.push(await h.post('/v1/events', i % 5 === 0 ? { events: [event(tag, i), event(tag, i + 100)] } : event(tag, i)));
    for (const r of spooled) expect(r).toMatchObject({ status: 202, body: { spooled: true } });
    const spoolDir = h.config.ingest.spoolDir;
    expect(readdirSync(spoolDir).some((f) => f.endsWith('.log'))).toBe(true);
    const ready = await fetch(`${h.service.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'degraded', checks: { redis: false, accepting: true } });

    await redis.start();
    const emails = [0, ...Array.from({ length: 20 }, (_, i) => i + 1), 105, 110, 115, 120].map((i) => `${tag}-${i}@example.com`);
    await waitUntil('every spooled event delivered', () => emails.every((email) => h!.sim.eventsFor(CONNECTION, { email }).length === 1), {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    expect(h.sim.account(CONNECTION)!.eventCount).toBe(emails.length);
    // In order: the spool is applied record by record, so the jobs reached Redis as the requests came.
    // Each request's job, by its id (job ids follow the items; a completed job keeps no payload, issue 18).
    const jobOf = (i: number) => {
      const ids = i % 5 === 0 ? [i, i + 100] : [i];
      return h!.queue('events').getJob(
        jobIdForItems(
          'events',
          ids.map((n) => eventKey(RELAY_SOURCE, `${tag}-${n}`)),
        ),
      );
    };
    const spooledOrder = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await jobOf(i + 1))!.timestamp));
    expect(spooledOrder.every((t, i) => i === 0 || t >= spooledOrder[i - 1]!)).toBe(true);
    // A resend of a spooled event, now that it is in Redis, is a duplicate.
    expect((await h.post('/v1/events', event(tag, 3))).body).toMatchObject({ duplicates: 1 });
  }, 60_000);

  it('profile and list operations are not spooled (their order must come from Redis): 503 with Retry-After, accepted on the retry', async () => {
    redis = await privateRedis();
    h = await startHarness({ name: 'spoolorder', env: { REDIS_URL: redis.url } });
    const tag = uniq('so');
    const email = `${tag}@example.com`;
    await redis.stop();
    // Events still go to the spool…
    expect(await h.post('/v1/events', event(tag, 1))).toMatchObject({ status: 202, body: { spooled: true } });
    const dir = h.config.ingest.spoolDir;
    const spoolBytes = () => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    const bytesBefore = spoolBytes();
    expect(bytesBefore).toBeGreaterThan(0);
    // …profile and list operations do not.
    for (const [path, body] of [
      ['/v1/profiles', { id: `${tag}-p`, email, first_name: 'Ada' }],
      ['/v1/lists/ListA1/members', { id: `${tag}-l`, profiles: [{ email }] }],
    ] as const) {
      const res = await fetch(`${h.service.url}${path}`, {
        method: 'POST',
        headers: { authorization: 'Bearer test-relay-key-1', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status, path).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toMatchObject({ error: 'unavailable', message: expect.stringMatching(/not spooled/) });
    }
    expect(spoolBytes()).toBe(bytesBefore);

    await redis.start();
    // The caller's retry, with the same ids, is accepted once Redis answers, and takes effect.
    const retried = await waitUntil(
      'a profile operation accepted once Redis is back',
      async () => {
        const r = await h!.post('/v1/profiles', { id: `${tag}-p`, email, first_name: 'Ada' });
        return r.status === 202 && r;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(retried.body).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(await h.post('/v1/lists/ListA1/members', { id: `${tag}-l`, profiles: [{ email }] })).toMatchObject({ status: 202 });
    await waitUntil('the profile upserted', () => h!.sim.profileByEmail(CONNECTION, email)?.attributes.first_name === 'Ada', {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    await waitUntil('the event behind it delivered', () => h!.sim.eventsFor(CONNECTION, { email: `${tag}-1@example.com` }).length === 1, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
  }, 60_000);

  it("past the spool's limit answers 503 with Retry-After, and takes work again once Redis is back", async () => {
    redis = await privateRedis();
    h = await startHarness({ name: 'spoolfull', env: { REDIS_URL: redis.url, RELAY_SPOOL_MAX_BYTES: '1500' } });
    const tag = uniq('full');
    await redis.stop();
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${h.service.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: 'Bearer test-relay-key-1', 'content-type': 'application/json' },
        body: JSON.stringify(event(tag, i)),
      });
      statuses.push(res.status);
      if (res.status === 503) {
        retryAfter = res.headers.get('retry-after');
        expect(await res.json()).toMatchObject({ error: 'unavailable' });
      }
    }
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    await redis.start();
    const accepted = statuses.map((s, i) => (s === 202 ? i : -1)).filter((i) => i >= 0);
    await waitUntil(
      'every accepted event delivered',
      () => accepted.every((i) => h!.sim.eventsFor(CONNECTION, { email: `${tag}-${i}@example.com` }).length === 1),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect((await h.post('/v1/events', event(tag, 999))).status).toBe(202);
  }, 60_000);
});

describe('backpressure', () => {
  it('above RELAY_MAX_QUEUED_JOBS ingest answers 503 with Retry-After', async () => {
    h = await startHarness({ name: 'backlog', workers: false, env: { RELAY_MAX_QUEUED_JOBS: '5' } });
    const tag = uniq('bp');
    for (let i = 0; i < 6; i++) expect((await h.post('/v1/events', event(tag, i))).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1500)); // the counts are read once a second
    const res = await fetch(`${h.service.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-relay-key-1', 'content-type': 'application/json' },
      body: JSON.stringify(event(tag, 7)),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(await res.json()).toMatchObject({ error: 'backlog_full' });
  });
});
