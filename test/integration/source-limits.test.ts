/**
 * Per-source limits at ingest (RELAY_CONFIG `limits:`) and backpressure that counts bytes, over
 * real HTTP against a relay on real Redis: a source over its rate or its queued bytes gets 429 with
 * Retry-After and nothing of its request is queued, while other sources go on; a queue over
 * RELAY_MAX_QUEUED_BYTES answers 503.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { startService, type Service } from '../../src/runtime/service.ts';
import { queueBytesKey, sourceBytesKey, sourceLedgerKey } from '../../src/redis-keys.ts';
import { queueRef } from '../../src/queue-catalog.ts';
import { CONNECTION, RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { privateRedis, type PrivateRedis } from '../support/private-redis.ts';
import { testRedis } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;
const ADMIN = 'admin-token-for-limits-tests';

const KEYS = {
  limited: 'limited-source-key-00000001',
  other: 'other-source-key-000000001',
  kinds: 'kinds-source-key-000000001',
  large: 'large-source-key-000000001',
  capped: 'capped-source-key-00000001',
  mixed: 'mixed-source-key-000000001',
} as const;
const FLOW_SECRET = 'flow-secret-for-limits-0123';

const file = parseRelayConfig(
  {
    sources: [
      // Rates slow enough that a loaded machine (the cluster run) cannot refill a bucket between two requests.
      { name: 'limited', keySha256: sha(KEYS.limited), limits: { eventsPerSecond: 1, burst: 10 } },
      { name: 'other', keySha256: sha(KEYS.other) },
      { name: 'kinds', keySha256: sha(KEYS.kinds), limits: { eventsPerSecond: 2, burst: 6 } },
      { name: 'large', keySha256: sha(KEYS.large), limits: { eventsPerSecond: 5, burst: 10 } },
      { name: 'capped', keySha256: sha(KEYS.capped), limits: { queuedBytes: 3000 } },
      { name: 'mixed', keySha256: sha(KEYS.mixed), limits: { eventsPerSecond: 1, burst: 10 } },
    ],
    flows: { vip: { secret: FLOW_SECRET, limits: { eventsPerSecond: 0.2, burst: 1 } } },
    rules: [{ on: { flow: 'vip' }, do: [{ createEvent: { metric: 'Became VIP' } }] }],
  },
  {},
);

interface Answer {
  status: number;
  retryAfter: string | null;
  body: any;
}

async function send(h: Harness, key: string, path: string, body: unknown, method = 'POST'): Promise<Answer> {
  const res = await fetch(`${h.service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
}

/** An event whose request body is exactly `bytes` long (as JSON). */
function eventOfSize(tag: string, i: number | string, bytes = 0) {
  const e = { id: `${tag}-${i}`, event: 'Placed Order', profile: { email: `${tag}-${i}@example.com` }, properties: { pad: '' } };
  if (bytes > 0) e.properties.pad = 'x'.repeat(Math.max(0, bytes - JSON.stringify(e).length));
  return e;
}
const events = (tag: string, n: number) => ({ events: Array.from({ length: n }, (_, i) => eventOfSize(tag, i)) });

/** Jobs in every queue ingest wrote to (whatever the queue layout). */
async function queuedJobs(h: Harness): Promise<number> {
  let n = 0;
  for (const q of h.service.queues.all()) {
    const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
    n += Object.values(c).reduce((a, b) => a + b, 0);
  }
  return n;
}

/**
 * Bytes counted in the queues ingest wrote to, whatever the queue layout (one queue per kind and
 * lane, or per class and source too); null when none holds any.
 */
async function queuesBytes(h: Harness, r: Redis = redis): Promise<number | null> {
  const values = await Promise.all(h.service.queues.all().map((q) => r.get(queueBytesKey(q.qualifiedName))));
  return values.every((v) => v === null) ? null : values.reduce((n, v) => n + Number(v ?? 0), 0);
}

let redis: Redis;
beforeAll(() => {
  redis = testRedis();
});
afterAll(() => {
  redis?.disconnect();
});

describe('events per second', () => {
  let h: Harness;
  const metrics = new Metrics({ defaultMetrics: false });
  beforeAll(async () => {
    h = await startHarness({ name: 'rate', workers: false, file, metrics, env: { RELAY_ADMIN_TOKEN: ADMIN } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a source over its rate gets 429 naming the limit, with nothing queued, while another source is accepted', async () => {
    const tag = uniq('rate');
    expect((await send(h, KEYS.limited, '/v1/events', events(tag, 10))).status).toBe(202);
    const before = await queuedJobs(h);
    const over = await send(h, KEYS.limited, '/v1/events', eventOfSize(tag, 'over'));
    expect(over.status).toBe(429);
    expect(over.body.error).toBe('source_rate_limited');
    expect(over.body.message).toContain('"limited"');
    expect(over.body.message).toContain('limits.eventsPerSecond: 1');
    // The bucket is empty: one item's worth (1 s) to wait.
    expect(over.retryAfter).toBe('1');
    expect(await queuedJobs(h)).toBe(before);

    // Another source, same account, same moment: every request accepted.
    for (let i = 0; i < 30; i++) expect((await send(h, KEYS.other, '/v1/events', eventOfSize(tag, `other-${i}`))).status).toBe(202);

    await sleep(Number(over.retryAfter) * 1000);
    expect((await send(h, KEYS.limited, '/v1/events', eventOfSize(tag, 'over'))).status).toBe(202);
  });

  it('counts items, not requests: list members and order events use the bucket too', async () => {
    const tag = uniq('kinds');
    const profiles = Array.from({ length: 5 }, (_, i) => ({ email: `${tag}-${i}@example.com` }));
    expect((await send(h, KEYS.kinds, '/v1/lists/WinBck/members', { profiles })).status).toBe(202);
    // One item left in the bucket (6 at 2/s): an order with two lines is three events (Placed Order, 2 × Ordered Product).
    const order = {
      id: `${tag}-o1`,
      profile: { email: `${tag}@example.com` },
      value: 30,
      currency: 'USD',
      items: [
        { product_id: 'p1', name: 'One', quantity: 1, price: 10 },
        { product_id: 'p2', name: 'Two', quantity: 1, price: 20 },
      ],
    };
    const refused = await send(h, KEYS.kinds, '/v1/orders', order);
    expect(refused.status).toBe(429);
    expect(refused.body.message).toContain('3 items');
    await sleep(3200); // the whole bucket again
    expect((await send(h, KEYS.kinds, '/v1/orders', order)).status).toBe(202);
    expect((await send(h, KEYS.kinds, '/v1/profiles', { profiles: Array.from({ length: 3 }, (_, i) => ({ email: `${tag}-p${i}@example.com` })) })).status).toBe(
      202,
    );
    expect((await send(h, KEYS.kinds, '/v1/profiles', { email: `${tag}-last@example.com` })).status).toBe(429);
  });

  it('a request larger than the burst passes a full bucket, and the source then waits until it has refilled', async () => {
    const tag = uniq('large');
    expect((await send(h, KEYS.large, '/v1/events', events(tag, 20))).status).toBe(202);
    // 20 items at 5/s: the bucket is full again 4 s later; one item fits 200 ms before that (2.2 s
    // from now, 3 once rounded up; 2 if this machine took 200 ms between the two requests).
    const next = await send(h, KEYS.large, '/v1/events', eventOfSize(tag, 'next'));
    expect(next.status).toBe(429);
    expect(['2', '3']).toContain(next.retryAfter);
    await sleep(1000);
    expect((await send(h, KEYS.large, '/v1/events', eventOfSize(tag, 'next'))).status).toBe(429);
    await sleep(2000);
    expect((await send(h, KEYS.large, '/v1/events', eventOfSize(tag, 'next'))).status).toBe(202);
  });

  it('a batch of live and backfill events (two queues) is admitted or refused as a whole', async () => {
    const tag = uniq('mixed');
    const batch = (from: number, live: number, backfill: number) => ({
      events: Array.from({ length: live + backfill }, (_, i) => ({ ...eventOfSize(tag, from + i), ...(i >= live ? { backfill: true } : {}) })),
    });
    // 6 of the bucket's 10 items.
    expect((await send(h, KEYS.mixed, '/v1/events', batch(0, 3, 3))).status).toBe(202);
    const before = await queuedJobs(h);
    // 5 items, 4 left: refused — not its live part taken and its backfill part refused (or the
    // other way round), which answered 429 "nothing accepted" with part of the batch queued.
    const over = await send(h, KEYS.mixed, '/v1/events', batch(6, 2, 3));
    expect(over.status).toBe(429);
    expect(over.body.error).toBe('source_rate_limited');
    expect(await queuedJobs(h)).toBe(before);
    expect(over.body.message).toContain("this request's 5 items");
  });

  it('a flow webhook with limits is refused past them (other routes for other sources unaffected)', async () => {
    const flow = (body: unknown) =>
      fetch(`${h.service.url}/webhooks/klaviyo/flows/vip`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-Relay-Secret': FLOW_SECRET },
        body: JSON.stringify(body),
      });
    const tag = uniq('flow');
    expect((await flow({ id: `${tag}-1`, email: `${tag}@example.com` })).status).toBe(200);
    const res = await flow({ id: `${tag}-2`, email: `${tag}@example.com` });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toMatchObject({ error: 'source_rate_limited', message: expect.stringContaining('"flow-vip"') });
    expect((await send(h, KEYS.other, '/v1/events', eventOfSize(tag, 'other'))).status).toBe(202);
  });

  it('counts refusals in relay_source_limited_total and shows the limits in /ops/status', async () => {
    const text = await (await fetch(`${h.service.url}/metrics`)).text();
    expect(text).toMatch(/relay_source_limited_total\{source="limited",limit="rate"\} [1-9]/);
    expect(text).toMatch(/relay_source_limited_total\{source="flow-vip",limit="rate"\} [1-9]/);
    const status = (await (await fetch(`${h.service.url}/ops/status`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
    expect(status.sources).toEqual(
      expect.arrayContaining([
        { source: 'limited', eventsPerSecond: 1, burst: 10 },
        { source: 'capped', queuedBytesLimit: 3000, queuedBytes: 0 },
        { source: 'flow-vip', eventsPerSecond: 0.2, burst: 1 },
      ]),
    );
  });
});

describe('queued bytes', () => {
  let h: Harness | undefined;
  let workers: Service | undefined;
  let priv: PrivateRedis | undefined;
  afterEach(async () => {
    await workers?.close();
    workers = undefined;
    await h?.close();
    h = undefined;
    await priv?.destroy();
    priv = undefined;
  });

  it('a source over its queued bytes gets 429 until its work is delivered, then is accepted again', async () => {
    // No backpressure here: its guard would heal the queue's counter once the queue is empty, and
    // this test is about the workers releasing what they finished.
    h = await startHarness({
      name: 'qbytes',
      workers: false,
      file,
      env: { RELAY_ADMIN_TOKEN: ADMIN, RELAY_MAX_QUEUED_JOBS: '0', RELAY_MAX_QUEUED_BYTES: '0' },
    });
    const tag = uniq('qb');
    const bodies = [0, 1, 2].map((i) => eventOfSize(tag, i, 1000));
    for (const b of bodies) expect((await send(h, KEYS.capped, '/v1/events', b)).status).toBe(202);
    // What is counted: the request bodies' bytes.
    expect(Number(await redis.get(sourceBytesKey(h.prefix, 'src-capped')))).toBe(3000);

    const before = await queuedJobs(h);
    const full = await send(h, KEYS.capped, '/v1/events', eventOfSize(tag, 3, 1000));
    expect(full.status).toBe(429);
    expect(full.retryAfter).toBe('5');
    expect(full.body.error).toBe('source_queue_full');
    expect(full.body.message).toContain('limits.queuedBytes: 3000');
    expect(await queuedJobs(h)).toBe(before);
    // Other sources are not held back.
    expect((await send(h, KEYS.other, '/v1/events', eventOfSize(tag, 'other', 1000))).status).toBe(202);

    const status = (await (await fetch(`${h.service.url}/ops/status`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
    expect(status.sources).toContainEqual({ source: 'capped', queuedBytesLimit: 3000, queuedBytes: 3000 });
    expect(status.queues.filter((q: { kind: string }) => q.kind === 'events').reduce((n: number, q: { queuedBytes: number }) => n + q.queuedBytes, 0)).toBe(
      4000,
    );

    // Workers deliver it: the source's bytes are released and it is accepted again.
    workers = await startService({ config: h.config, log: createLogger('silent'), api: false, workers: true, file });
    await waitUntil('each event delivered once', () => bodies.every((b) => h!.sim.eventsFor(CONNECTION, { email: b.profile.email }).length === 1), {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    // Released by the workers as each job completes (the ledger's pruner runs only every 10 s).
    await waitUntil("the source's bytes released", async () => (await redis.get(sourceBytesKey(h!.prefix, 'src-capped'))) === null, {
      timeoutMs: 3000,
      intervalMs: 50,
    });
    expect(await redis.hlen(sourceLedgerKey(h.prefix, 'src-capped'))).toBe(0);
    expect((await send(h, KEYS.capped, '/v1/events', eventOfSize(tag, 3, 1000))).status).toBe(202);
    await waitUntil('the third event delivered', () => h!.sim.eventsFor(CONNECTION, { email: `${tag}-3@example.com` }).length === 1, {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    // Every job finished: the queue's counter is back to nothing (never below).
    await waitUntil("the queues' bytes released", async () => (await queuesBytes(h!)) === null, { timeoutMs: 3000, intervalMs: 50 });
  }, 60_000);

  it('a job that fails for good (a dead letter) releases its bytes too', async () => {
    h = await startHarness({ name: 'qbdead', file, env: { RELAY_JOB_ATTEMPTS: '1', RELAY_MAX_QUEUED_JOBS: '0', RELAY_MAX_QUEUED_BYTES: '0' } });
    const tag = uniq('qbdead');
    h.sim.faults.add({ rejectItems: { emails: [`${tag}-0@example.com`] } });
    expect((await send(h, KEYS.capped, '/v1/events', eventOfSize(tag, 0, 1000))).status).toBe(202);
    await waitUntil(
      'one failed job',
      async () => (await Promise.all(h!.service.queues.all().map((q) => q.getFailedCount()))).reduce((a, b) => a + b, 0) === 1,
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    await waitUntil(
      "the source's and queues' bytes released",
      async () => (await redis.get(sourceBytesKey(h!.prefix, 'src-capped'))) === null && (await queuesBytes(h!)) === null,
      { timeoutMs: 3000, intervalMs: 50 },
    );
  }, 30_000);

  it("a dead letter replayed into its source's bulk queue counts there again, and its Worker releases it when delivered", async () => {
    h = await startHarness({
      name: 'qbreplay',
      workers: false,
      file,
      env: { RELAY_ADMIN_TOKEN: ADMIN, RELAY_JOB_ATTEMPTS: '1', RELAY_MAX_QUEUED_JOBS: '0', RELAY_MAX_QUEUED_BYTES: '0' },
    });
    const tag = uniq('qbreplay');
    const body = eventOfSize(tag, 0, 1000);
    h.sim.faults.add({ rejectItems: { emails: [body.profile.email] } });
    expect((await send(h, KEYS.capped, '/v1/events', body)).status).toBe(202);
    workers = await startService({ config: h.config, log: createLogger('silent'), api: false, workers: true, file });
    const sourceBytes = async () => redis.get(sourceBytesKey(h!.prefix, 'src-capped'));
    const queueBytes = async (cls: 'live' | 'bulk') =>
      redis.get(queueBytesKey(h!.service.queues.get(queueRef('events', 'default', cls, 'src-capped')).qualifiedName));
    await waitUntil(
      "the live queue's failed job",
      async () => (await h!.service.queues.get(queueRef('events', 'default', 'live', 'src-capped')).getFailedCount()) === 1,
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    await waitUntil("the source's and live queue's bytes released", async () => (await sourceBytes()) === null && (await queueBytes('live')) === null, {
      timeoutMs: 3000,
      intervalMs: 50,
    });
    await workers.close();
    workers = undefined;

    // Replayed (as bulk: another queue) while no worker runs: accepted and not finished again.
    h.sim.faults.clear();
    const replay = await fetch(`${h.service.url}/ops/dead-letters/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ all: true }),
    });
    expect(await replay.json()).toMatchObject({ priority: 'bulk', jobs: 1 });
    expect(await sourceBytes()).toBe('1000');
    expect(await queueBytes('bulk')).toBe('1000');
    expect(await queueBytes('live')).toBeNull();

    // Delivered from the bulk queue: its Worker releases both counts.
    workers = await startService({ config: h.config, log: createLogger('silent'), api: false, workers: true, file });
    await waitUntil('the event delivered', () => h!.sim.eventsFor(CONNECTION, { email: body.profile.email }).length === 1, {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    await waitUntil("the source's and bulk queue's bytes released", async () => (await sourceBytes()) === null && (await queueBytes('bulk')) === null, {
      timeoutMs: 3000,
      intervalMs: 50,
    });
    expect(await redis.hlen(sourceLedgerKey(h.prefix, 'src-capped'))).toBe(0);
  }, 60_000);

  it('spooled work counts once the spool moves it into Redis', async () => {
    priv = await privateRedis();
    h = await startHarness({ name: 'qbspool', workers: false, file, env: { REDIS_URL: priv.url } });
    const tag = uniq('qbspool');
    await priv.stop();
    const body = eventOfSize(tag, 0, 1200);
    const res = await send(h, KEYS.capped, '/v1/events', body);
    expect(res.status).toBe(202);
    expect(res.body.spooled).toBe(true);
    await priv.start();
    const own = testRedis(priv.url);
    try {
      await waitUntil('1,200 bytes counted for the source', async () => Number(await own.get(sourceBytesKey(h!.prefix, 'src-capped'))) === 1200, {
        timeoutMs: 20_000,
        intervalMs: 100,
      });
      expect(await queuesBytes(h, own)).toBe(1200);
    } finally {
      own.disconnect();
    }
  }, 60_000);
});

describe('backpressure in bytes', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("a queue's bytes count each accepted item once: a duplicate adds nothing; without dedupe they are counted all the same", async () => {
    for (const dedupe of ['86400', '0']) {
      h = await startHarness({ name: 'bpcount', workers: false, env: { RELAY_DEDUP_TTL_S: dedupe } });
      const tag = uniq('bpc');
      expect((await h.post('/v1/events', eventOfSize(tag, 0, 1000))).status).toBe(202);
      expect((await h.post('/v1/events', { events: [eventOfSize(tag, 1, 700), eventOfSize(tag, 2, 702)] })).status).toBe(202);
      if (dedupe !== '0') expect((await h.post('/v1/events', eventOfSize(tag, 0, 1000))).body.duplicates).toBe(1);
      // The batch's body is its two events plus `{"events":[,]}` (14 bytes), shared between them.
      expect(await queuesBytes(h)).toBe(1000 + 1416);
      await h.close();
      h = undefined;
    }
  });

  it("a batch split over live and backfill counts its body once: each class queue its items' share", async () => {
    h = await startHarness({ name: 'bpsplit', workers: false });
    const tag = uniq('bps');
    const live = eventOfSize(tag, 0, 700);
    const backfill = { ...eventOfSize(tag, 1, 702), backfill: true };
    const body = { events: [live, backfill] };
    expect((await h.post('/v1/events', body)).status).toBe(202);
    const counter = async (cls: 'live' | 'bulk') =>
      Number(await redis.get(queueBytesKey(h!.service.queues.get(queueRef('events', 'default', cls, RELAY_SOURCE)).qualifiedName)));
    const size = JSON.stringify(body).length;
    expect(await counter('live')).toBe(size / 2);
    expect(await counter('bulk')).toBe(size / 2);
  });

  it('above RELAY_MAX_QUEUED_BYTES in a queue ingest answers 503; once the queue is emptied the count heals', async () => {
    h = await startHarness({ name: 'bpbytes', workers: false, env: { RELAY_MAX_QUEUED_BYTES: '2500', RELAY_MAX_QUEUED_JOBS: '0' } });
    const tag = uniq('bpb');
    for (let i = 0; i < 3; i++) expect((await h.post('/v1/events', eventOfSize(tag, i, 1000))).status).toBe(202);
    await sleep(1500); // the counts are read once a second
    const res = await h.post('/v1/events', eventOfSize(tag, 3, 1000));
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'backlog_full', message: expect.stringContaining('RELAY_MAX_QUEUED_BYTES') });

    // An operator empties the queue by hand: no worker ever releases those bytes, yet the count
    // heals once the queue has been seen empty twice, and work is accepted again.
    for (const q of h.service.queues.all()) await q.drain(true);
    await waitUntil('the source to take events again', async () => (await h!.post('/v1/events', eventOfSize(tag, 3, 1000))).status === 202, {
      timeoutMs: 10_000,
      intervalMs: 250,
    });
  }, 30_000);
});
