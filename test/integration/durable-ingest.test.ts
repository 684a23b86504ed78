/**
 * src/ingest/durable-ingest.ts: never a 2xx for work it does not hold. Straight into Redis when it
 * can, into the spool when Redis fails or hangs, behind the spool while anything is in it; profile
 * operations never spooled; the checks before any of it; the drain loop, in order, once.
 *
 * The ingest behind it is a recording one (what reached "Redis", in what order), over a real spool
 * and real Redis connections (the drain pings); the last test puts the real ingest and BullMQ
 * behind it, on a redis-server of its own that it stops and starts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BacklogFullError, type BacklogGuard } from '../../src/ingest/backlog.ts';
import { createDurableIngest, OrderedWorkUnavailableError, type DurableIngest } from '../../src/ingest/durable-ingest.ts';
import type { EnqueueResult } from '../../src/ingest/enqueue.ts';
import { createIngest, type Ingest, type Origin } from '../../src/ingest/ingest.ts';
import { encodeEventItem, encodeWebhookItem, type ProfileItem } from '../../src/job-data.ts';
import { SourceLimitedError, type SourceLimiter } from '../../src/ingest/source-limits.ts';
import { Spool, SpoolFullError, type SpoolRecord } from '../../src/ingest/spool.ts';
import { createLogger } from '../../src/log.ts';
import { queueName, queueRef, type QueueRef } from '../../src/queue-catalog.ts';
import { Queues } from '../../src/queues.ts';
import { createRedis, waitForRedis } from '../../src/redis.ts';
import { freePort } from '../support/ports.ts';
import { privateRedis } from '../support/private-redis.ts';
import { testRedis, uniquePrefix } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

const log = createLogger('silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ORIGIN: Origin = { id: 'src-shop', lane: 'default', cls: 'bulk' };

let up: Redis;
let down: Redis;
beforeAll(async () => {
  up = testRedis();
  await waitForRedis(up, 5000);
  // A Redis that is not there: the API's client, which fails at once instead of queueing commands.
  down = createRedis(`redis://127.0.0.1:${await freePort()}`, 'api') as Redis;
});
afterAll(() => {
  up?.disconnect();
  down?.disconnect();
});

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Call {
  readonly m: SpoolRecord['m'];
  readonly o: Origin;
  readonly items: readonly unknown[];
  readonly b?: number;
}

const REDIS_FAILURE = new Error('Connection is closed.');

/** What the durable ingest hands work to: records what "Redis" took, or fails, or never answers. */
function recordingIngest() {
  const state = { mode: 'ok' as 'ok' | 'fail' | 'hang', delayMs: 0, calls: [] as Call[] };
  const take =
    (m: SpoolRecord['m']) =>
    async (o: Origin, items: readonly unknown[], b?: number): Promise<EnqueueResult> => {
      if (state.mode === 'fail') throw REDIS_FAILURE;
      if (state.mode === 'hang') return new Promise<never>(() => undefined);
      if (state.delayMs) await sleep(state.delayMs);
      state.calls.push({ m, o, items, b });
      return { enqueued: items.length, duplicates: 0, jobIds: items.map((_, i) => `job-${state.calls.length}-${i}`) };
    };
  const inner: Ingest = {
    events: take('events'),
    profileOps: take('profileOps') as Ingest['profileOps'],
    webhooks: take('webhooks'),
    backInStock: take('backInStock'),
    couponCodes: take('couponCodes'),
  };
  return { inner, state };
}

/** Records every check; refuses the queues and sources it is told to. */
function checkers() {
  const seen = { refs: [] as string[], admits: [] as [string, number, number][], stopped: [] as string[] };
  const refuse = { queues: new Set<string>(), sources: new Set<string>() };
  const backlog: BacklogGuard = {
    check(ref: QueueRef) {
      seen.refs.push(queueName(ref));
      if (refuse.queues.has(queueName(ref))) throw new BacklogFullError('full');
    },
    stop: () => void seen.stopped.push('backlog'),
  };
  const limits: SourceLimiter = {
    admit(id, items, bytes) {
      seen.admits.push([id, items, bytes]);
      return refuse.sources.has(id) ? Promise.reject(new SourceLimitedError('limited', 'rate', id, 1)) : undefined;
    },
    countsBytes: () => false,
    status: async () => [],
    stop: () => void seen.stopped.push('limits'),
  };
  return { backlog, limits, seen, refuse };
}

async function spoolIn(maxBytes = 1 << 20): Promise<Spool> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-durable-'));
  const spool = await Spool.open(dir, 'api-test', maxBytes, { heartbeatMs: 50, staleMs: 2000 });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return spool;
}

function durable(inner: Ingest, opts: { redis?: Redis; spool?: Spool; backlog?: BacklogGuard; limits?: SourceLimiter; drainEveryMs?: number } = {}) {
  const d = createDurableIngest(inner, opts.redis ?? up, opts.spool, opts.backlog, log, opts.drainEveryMs ?? 20, opts.limits);
  cleanups.push(() => d.stop());
  return d;
}

// Items of each kind (the recording ingest only carries them; the spool keeps their stored form).
const ev = (id: string) => ({ key: `k-${id}`, id, event: { metric: 'Placed Order', profile: { email: `${id}@example.com` } } }) as never;
const wh = (id: string) => ({ key: `k-${id}`, id, webhook: { topic: 'event:klaviyo.unsubscribed_from_email_marketing', payload: { id } } }) as never;
const stored = (it: never): unknown => encodeEventItem(it);
const ids = (calls: readonly Call[]) => calls.flatMap((c) => c.items.map((i) => (i as { id: string }).id));
const spooled = (n: number): EnqueueResult => ({ enqueued: n, duplicates: 0, jobIds: [], spooled: true });
const drained = (d: DurableIngest) => waitUntil('the spool drained', () => d.spooledBytes() === 0, { timeoutMs: 5000, intervalMs: 10 });

describe('accepting work', () => {
  it('Redis takes it: straight in, with its origin and bytes; nothing spooled', async () => {
    const { inner, state } = recordingIngest();
    const spool = await spoolIn();
    const d = durable(inner, { spool });
    expect(await d.events(ORIGIN, [ev('a'), ev('b')], 321)).toEqual({ enqueued: 2, duplicates: 0, jobIds: ['job-1-0', 'job-1-1'] });
    expect(state.calls).toEqual([{ m: 'events', o: ORIGIN, items: [ev('a'), ev('b')], b: 321 }]);
    expect(d.spooledBytes()).toBe(0);
  });

  it('Redis fails: the work is spooled (fsync’ed) and acknowledged as spooled, origin and bytes kept for the drain', async () => {
    const { inner, state } = recordingIngest();
    const spool = await spoolIn();
    const d = durable(inner, { spool, redis: down });
    state.mode = 'fail';
    expect(await d.events(ORIGIN, [ev('a'), ev('b')], 321)).toEqual(spooled(2));
    expect(await d.webhooks({ id: 'klaviyo-webhooks', lane: 'default' }, [wh('w')])).toEqual(spooled(1));
    expect(d.spooledBytes()).toBe(spool.size);
    expect(spool.size).toBeGreaterThan(0);
    const recs: SpoolRecord[] = [];
    await spool.drain(async (r) => void recs.push(r));
    expect(recs).toEqual([
      { m: 'events', o: ORIGIN, items: [stored(ev('a')), stored(ev('b'))], b: 321 },
      { m: 'webhooks', o: { id: 'klaviyo-webhooks', lane: 'default' }, items: [encodeWebhookItem(wh('w'))] },
    ]);
  });

  it('Redis does not answer: after 2 s the work goes to the spool instead of holding the request', async () => {
    const { inner, state } = recordingIngest();
    const d = durable(inner, { spool: await spoolIn(), redis: down });
    state.mode = 'hang';
    const t0 = Date.now();
    expect(await d.events(ORIGIN, [ev('a')])).toEqual(spooled(1));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('while anything is spooled, new events and webhooks queue behind it even though Redis would take them', async () => {
    const { inner, state } = recordingIngest();
    const d = durable(inner, { spool: await spoolIn(), redis: down }); // the drain waits for Redis to answer PING
    state.mode = 'fail';
    await d.events(ORIGIN, [ev('1')]);
    state.mode = 'ok';
    expect(await d.events(ORIGIN, [ev('2')])).toEqual(spooled(1));
    expect(await d.webhooks(ORIGIN, [wh('3')])).toEqual(spooled(1));
    expect(state.calls).toEqual([]);
  });

  it('profile operations are never spooled: 503 when Redis fails, and past spooled events when it answers', async () => {
    const { inner, state } = recordingIngest();
    const spool = await spoolIn();
    const d = durable(inner, { spool, redis: down });
    state.mode = 'fail';
    const before = spool.size;
    await expect(d.profileOps(ORIGIN, [ev('p1')])).rejects.toThrow(OrderedWorkUnavailableError);
    expect(spool.size).toBe(before);
    await d.events(ORIGIN, [ev('e1')]); // spooled
    state.mode = 'ok';
    expect(await d.profileOps(ORIGIN, [ev('p2')])).toMatchObject({ enqueued: 1, jobIds: ['job-1-0'] });
    expect(state.calls.map((c) => c.m)).toEqual(['profileOps']);
  });

  it('without a spool a Redis failure is the caller’s (the same error); a full spool refuses with SpoolFullError', async () => {
    const { inner, state } = recordingIngest();
    state.mode = 'fail';
    await expect(durable(inner, { redis: down }).events(ORIGIN, [ev('a')])).rejects.toBe(REDIS_FAILURE);
    const small = durable(inner, { spool: await spoolIn(200), redis: down });
    await small.events(ORIGIN, [ev('a')]);
    await expect(small.events(ORIGIN, [ev('b')])).rejects.toThrow(SpoolFullError);
  });
});

describe('checks before taking work', () => {
  it("each call checks its queue's backlog and the source's limits first; a refusal takes nothing, into Redis or the spool", async () => {
    const { inner, state } = recordingIngest();
    const c = checkers();
    const spool = await spoolIn();
    const d = durable(inner, { spool, backlog: c.backlog, limits: c.limits });
    await d.events(ORIGIN, [ev('a'), ev('b')], 500);
    await d.profileOps({ id: 'src-crm', lane: 'eu' }, [ev('p')]);
    expect(c.seen.refs).toEqual(['events.default.bulk.src-shop', 'profiles.eu.live.src-crm']);
    expect(c.seen.admits).toEqual([
      ['src-shop', 2, 500],
      ['src-crm', 1, 0],
    ]);

    c.refuse.queues.add('events.default.bulk.src-shop');
    await expect(d.events(ORIGIN, [ev('c')])).rejects.toThrow(BacklogFullError);
    c.refuse.queues.clear();
    c.refuse.sources.add('src-shop');
    await expect(d.events(ORIGIN, [ev('d')])).rejects.toThrow(SourceLimitedError);
    state.mode = 'fail'; // …also when Redis is away: refused before the spool
    await expect(d.events(ORIGIN, [ev('e')])).rejects.toThrow(SourceLimitedError);
    expect(ids(state.calls)).toEqual(['a', 'b', 'p']);
    expect(spool.size).toBe(0);
  });

  it('admit checks every part of a request, and the source once for all of them; work it admitted is not checked again', async () => {
    const { inner } = recordingIngest();
    const c = checkers();
    const d = durable(inner, { spool: await spoolIn(), backlog: c.backlog, limits: c.limits });
    const parts = [
      { cls: 'live' as const, items: 2 },
      { cls: 'bulk' as const, items: 3 },
    ];
    await d.admit!('profileOps', ORIGIN, parts, 900);
    expect(c.seen.refs).toEqual(['profiles.default.live.src-shop', 'profiles.default.bulk.src-shop']);
    expect(c.seen.admits).toEqual([['src-shop', 5, 900]]);
    await d.profileOps({ ...ORIGIN, cls: 'live' }, [ev('a'), ev('b')], 400, true);
    await d.profileOps(ORIGIN, [ev('c'), ev('d'), ev('e')], 500, true);
    expect(c.seen.refs).toHaveLength(2);
    expect(c.seen.admits).toHaveLength(1);

    c.refuse.queues.add('profiles.default.bulk.src-shop');
    await expect(d.admit!('profileOps', ORIGIN, parts, 900)).rejects.toThrow(BacklogFullError);
  });
});

describe('the drain', () => {
  it('moves spooled work into Redis in the order it came, without asking the checks again; then new work goes straight in', async () => {
    const { inner, state } = recordingIngest();
    const c = checkers();
    const spool = await spoolIn();
    // Redis away, then back: what the drain sees of the connection (it asks PING before moving work).
    let redis = down;
    const connection = {
      ping: () => redis.ping(),
      get status() {
        return redis.status;
      },
    } as unknown as Redis;
    const d = durable(inner, { spool, redis: connection, backlog: c.backlog, limits: c.limits });
    state.mode = 'fail';
    await d.events(ORIGIN, [ev('1')], 10);
    await d.webhooks({ id: 'klaviyo-webhooks', lane: 'default' }, [wh('2')]);
    state.mode = 'ok';
    await d.events(ORIGIN, [ev('3'), ev('4')], 20); // behind the spool
    await sleep(100);
    expect(state.calls).toEqual([]); // Redis does not answer PING: nothing moves
    const checked = [c.seen.refs.length, c.seen.admits.length];

    redis = up;
    await drained(d);
    expect(state.calls).toEqual([
      { m: 'events', o: ORIGIN, items: [ev('1')], b: 10 },
      { m: 'webhooks', o: { id: 'klaviyo-webhooks', lane: 'default' }, items: [wh('2')], b: undefined },
      { m: 'events', o: ORIGIN, items: [ev('3'), ev('4')], b: 20 },
    ]);
    expect([c.seen.refs.length, c.seen.admits.length]).toEqual(checked);
    expect(await d.events(ORIGIN, [ev('5')])).toMatchObject({ enqueued: 1, jobIds: ['job-4-0'] });
    expect(ids(state.calls)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('one drain at a time: a slow Redis never gets a record twice', async () => {
    const { inner, state } = recordingIngest();
    const spool = await spoolIn();
    state.mode = 'fail';
    const d = durable(inner, { spool, drainEveryMs: 5 });
    for (const id of ['1', '2', '3', '4', '5']) await d.events(ORIGIN, [ev(id)]);
    state.delayMs = 60; // many drain ticks per record
    state.mode = 'ok';
    await drained(d);
    expect(ids(state.calls)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('stop ends the loop and stops the checks; the spool is closed, keeping what is in it', async () => {
    const { inner, state } = recordingIngest();
    const c = checkers();
    const spool = await spoolIn();
    state.mode = 'fail';
    const d = createDurableIngest(inner, up, spool, c.backlog, log, 20, c.limits); // stopped here, not by the cleanup
    await d.events(ORIGIN, [ev('1')]);
    d.stop();
    expect(c.seen.stopped.sort()).toEqual(['backlog', 'limits']);
    state.mode = 'ok';
    await sleep(150);
    expect(state.calls).toEqual([]);
    const next = await Spool.open(spool.dir, spool.name, 1 << 20, { heartbeatMs: 50, staleMs: 2000 });
    const recs: SpoolRecord[] = [];
    await next.drain(async (r) => void recs.push(r));
    next.close();
    expect(recs).toHaveLength(1);
  });
});

describe('what it reports', () => {
  it('canAccept: Redis answers, or the spool has room for a request (64 KiB)', async () => {
    const { inner } = recordingIngest();
    expect(durable(inner).canAccept()).toBe(true);
    expect(durable(inner, { redis: down }).canAccept()).toBe(false);
    expect(durable(inner, { redis: down, spool: await spoolIn(1 << 20) }).canAccept()).toBe(true);
    expect(durable(inner, { redis: down, spool: await spoolIn(64 * 1024 - 1) }).canAccept()).toBe(false);
  });

  it('spooledBytes: what waits in this process’s spool, 0 without one', async () => {
    const { inner, state } = recordingIngest();
    expect(durable(inner).spooledBytes()).toBe(0);
    const spool = await spoolIn();
    const d = durable(inner, { spool, redis: down });
    state.mode = 'fail';
    await d.events(ORIGIN, [ev('1')]);
    expect(d.spooledBytes()).toBe(spool.size);
    expect(spool.size).toBeGreaterThan(0);
  });
});

describe('with the real ingest and BullMQ', () => {
  it('Redis stopped: events spooled, profile operations refused; Redis back: the events reach their queue in order, once', async () => {
    const server = await privateRedis(); // AOF on: what Redis took before it stopped is still there
    cleanups.push(() => server.destroy());
    const redis = createRedis(server.url, 'api');
    cleanups.push(() => redis.disconnect());
    await waitForRedis(redis, 5000);
    const queues = new Queues(redis, uniquePrefix('durable'), { attempts: 1, keepCompletedS: 60 });
    cleanups.push(() => queues.close());
    const d = durable(createIngest(redis, queues, 86_400_000), { redis: redis as Redis, spool: await spoolIn(), drainEveryMs: 50 });

    expect(await d.events(ORIGIN, [ev('0')])).toMatchObject({ enqueued: 1 });
    await server.stop();
    for (let i = 1; i <= 5; i++) expect(await d.events(ORIGIN, [ev(String(i))])).toEqual(spooled(1));
    const op: ProfileItem = { key: 'pk-1', id: 'p1', operation: { op: 'upsert', profile: { email: 'p@example.com' } } };
    await expect(d.profileOps(ORIGIN, [op])).rejects.toThrow(OrderedWorkUnavailableError);
    expect(d.canAccept()).toBe(true); // the spool has room

    await server.start();
    await drained(d);
    const queue = queues.get(queueRef('events', 'default', 'bulk', 'src-shop'));
    const jobs = (await queue.getJobs(['waiting', 'prioritized', 'delayed'])).sort((a, b) => a.timestamp - b.timestamp || Number(a.id) - Number(b.id));
    expect(jobs.flatMap((j) => (j.data.items as { id: string }[]).map((it) => it.id))).toEqual(['0', '1', '2', '3', '4', '5']);
    // The refused operation is taken once Redis answers (the caller's retry).
    await waitForRedis(redis, 5000);
    expect(await d.profileOps(ORIGIN, [op])).toMatchObject({ enqueued: 1 });
  });
});
