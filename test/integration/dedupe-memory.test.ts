/**
 * The compact dedupe memory (src/dedupe-memory.ts) through the ingest claim, on real Redis (and on
 * a Redis Cluster: vitest.cluster.config.ts runs this file there too): an item seen within the
 * window is a duplicate — across a generation rotation, and atomically for concurrent writers —
 * while its job exists or once it is marked done; an item whose job was never added is not; and
 * a generation stays in listpack-encoded buckets of a few dozen digests, tens of bytes per item.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobWriter, type EnqueueTarget } from '../../src/ingest/enqueue.ts';
import { eventKey } from '../../src/item-keys.ts';
import { DIGEST_BYTES, lookUpItems, markJobDone } from '../../src/dedupe-memory.ts';
import { Queues } from '../../src/queues.ts';
import { queueRef } from '../../src/queue-catalog.ts';
import { dedupeMemoryPrefix, jobHashKey } from '../../src/redis-keys.ts';
import { deleteKeys, testRedis, uniquePrefix } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

const prefix = uniquePrefix('dedupe');
let redis: Redis;
let other: Redis;
let queues: Queues;

interface Item {
  readonly k: string;
}
interface Data {
  readonly src: string;
  readonly lane: string;
  readonly at: number;
  readonly items: Item[];
  readonly d?: string;
}

const writerOn = (conn: Redis, windowMs: number) =>
  createJobWriter(conn, queues, windowMs, { kind: 'events', data: (t, items: Item[], at): Data => ({ src: t.source, lane: t.lane, at, items }) });
const target = (lane: string): EnqueueTarget => ({ lane, cls: 'live', source: 'src' });
/** Item keys as ingest makes them (SHA-256, base64url). */
const keys = (n: number, tag = randomBytes(4).toString('hex')) => Array.from({ length: n }, (_, i) => ({ k: eventKey('src', `${tag}-${i}`) }));

/** The Redis server's clock, in ms (the claim's Lua reads the same clock). */
async function serverMs(): Promise<number> {
  const [s, us] = (await redis.time()) as [string | number, string | number];
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/** The generation the server's clock is in, for a window (GENERATIONS = 1: a generation is a window). */
async function generationNow(windowMs: number): Promise<number> {
  return Math.floor((await serverMs()) / windowMs);
}

beforeAll(async () => {
  redis = testRedis();
  other = testRedis();
  queues = new Queues(redis, prefix, { attempts: 1, keepCompletedS: 60 });
});
afterAll(async () => {
  await queues?.close();
  redis?.disconnect();
  other?.disconnect();
  await deleteKeys(`${prefix}:*`);
});

describe('the dedupe memory', () => {
  it('an item is a duplicate for the whole window, across a generation rotation; new again once the window and a generation passed', async () => {
    const windowMs = 1500;
    const w = writerOn(redis, windowMs);
    const t = target('rot');
    // Start just after a generation began, so the window spans a rotation in the middle.
    const g0 = await generationNow(windowMs);
    await waitUntil('a new generation', async () => (await generationNow(windowMs)) > g0, { timeoutMs: 5000, intervalMs: 10 });
    const items = keys(3);
    const first = await w.enqueue(t, items);
    expect(first).toMatchObject({ enqueued: 3, duplicates: 0 });
    const claimedIn = await generationNow(windowMs);
    const started = Date.now();
    const seen = new Set<number>();
    // Every 100 ms for the whole window and into the next generation (stopping 300 ms before the
    // one after, where the first is no longer looked up): each resend is a duplicate.
    for (;;) {
      const at = await serverMs();
      if (at >= (claimedIn + 2) * windowMs - 300) break;
      const again = await w.enqueue(t, items);
      expect(again).toMatchObject({ enqueued: 0, duplicates: 3 });
      seen.add(Math.floor(at / windowMs));
      if (Date.now() - started >= windowMs && seen.has(claimedIn + 1)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(windowMs - 300);
    expect(seen.has(claimedIn + 1)).toBe(true);
    // Two generations on, the first is no longer looked up: the items are new again.
    await waitUntil('two generations later', async () => (await generationNow(windowMs)) >= claimedIn + 2, { timeoutMs: 5000, intervalMs: 20 });
    expect(await w.enqueue(t, items)).toMatchObject({ enqueued: 3, duplicates: 0 });
  });

  it('in the next generation: a duplicate found in the older one leaves nothing in the current one; a stale older entry moves to the current one', async () => {
    const windowMs = 1500;
    const w = writerOn(redis, windowMs);
    const t = target('older');
    const mp = dedupeMemoryPrefix(prefix, 'events', 'older');
    // Claim early in a generation, then resend in the next one.
    const g0 = await generationNow(windowMs);
    await waitUntil('a new generation', async () => (await generationNow(windowMs)) > g0, { timeoutMs: 5000, intervalMs: 10 });
    const items = keys(3);
    const first = await w.enqueue(t, items);
    expect(first).toMatchObject({ enqueued: 3, duplicates: 0 });
    const g1 = await generationNow(windowMs);
    await waitUntil('the next generation', async () => (await generationNow(windowMs)) > g1, { timeoutMs: 5000, intervalMs: 10 });
    expect(await w.enqueue(t, items)).toMatchObject({ enqueued: 0, duplicates: 3 });
    const g2 = g1 + 1;
    // The claim wrote each digest into the current generation first and took it back: no digest,
    // no job-table entry, and the counters (written for the job numbers taken) expire.
    expect(Number((await redis.hget(`${mp}${g2}:m`, 'n')) ?? 0)).toBe(0);
    expect(await redis.hlen(`${mp}${g2}:j`)).toBe(0);
    expect(await redis.exists(`${mp}${g2}:b:0`)).toBe(0);
    expect(await redis.pttl(`${mp}${g2}:m`)).toBeGreaterThan(0);
    // The job is gone without being done (as if removed by hand): the older entries are stale, and
    // a resend claims the items again, in the current generation.
    await queues.get(queueRef('events', 'older', 'live', 'src')).remove(first.jobIds[0]!);
    const again = await w.enqueue(t, items);
    expect(again).toMatchObject({ enqueued: 3, duplicates: 0 });
    expect(await redis.hlen(`${mp}${g1}:b:0`)).toBe(0);
    expect(Number(await redis.hget(`${mp}${g2}:m`, 'n'))).toBe(3);
    expect(await redis.hlen(`${mp}${g2}:b:0`)).toBe(3);
    expect(await w.enqueue(t, items)).toMatchObject({ enqueued: 0, duplicates: 3 });
  });

  it('the same request from two connections at once (two API processes): every item in one job, once', async () => {
    const t = target('race');
    const items = keys(400);
    const a = writerOn(redis, 60_000);
    const b = writerOn(other, 60_000);
    await Promise.all([a.enqueue(t, items), b.enqueue(t, items), a.enqueue(t, items.slice(0, 100))]);
    // A claim whose job is not added yet reads as unclaimed (a crash in between must not lose the
    // items), so both may claim; the job ids follow the items, so BullMQ adds each job once.
    const jobs = await queues.get(queueRef('events', 'race', 'live', 'src')).getJobs(['waiting', 'prioritized']);
    const carried = jobs.flatMap((j) => (j.data as Data).items.map((it) => it.k));
    expect(carried.sort()).toEqual(items.map((it) => it.k).sort());
    expect(await b.enqueue(t, items)).toMatchObject({ enqueued: 0, duplicates: 400 });
  });

  it('an item whose job was never added is not a duplicate (the retry adds it); a done job keeps its items duplicates after it is pruned', async () => {
    const t = target('jobs');
    const w = writerOn(redis, 60_000);
    const items = keys(5);
    const r1 = await w.enqueue(t, items);
    const queue = queues.get(queueRef('events', 'jobs', 'live', 'src'));
    // As if the process died between the claim and the add: the job is not there.
    await queue.remove(r1.jobIds[0]!);
    const r2 = await w.enqueue(t, items);
    expect(r2).toMatchObject({ enqueued: 5, duplicates: 0 });
    const job = (await queue.getJob(r2.jobIds[0]!))!;
    const data = job.data as Data;
    expect(data.d).toMatch(/^\d+:\d+$/);
    // Find reads the job from the memory.
    const held = await lookUpItems(redis, prefix, 'events', 'jobs', 60_000, [items[0]!.k, eventKey('src', 'never-sent')]);
    expect(held).toEqual([`${queue.name}/${job.id}`, undefined]);
    // Completed (one item delivered by an earlier attempt, no longer on the job): done in the
    // memory, and the job keeps no payload nor BullMQ's options.
    await markJobDone(redis, prefix, 'events', 'jobs', data.d!, {
      key: jobHashKey(queue.qualifiedName, job.id!),
      data: JSON.stringify({ v: 1, src: 'src', lane: 'jobs', at: data.at, items: [], n: 5 }),
      itemKeys: items.slice(1).map((it) => it.k),
    });
    const hash = await redis.hgetall(jobHashKey(queue.qualifiedName, job.id!));
    expect(JSON.parse(hash.data!)).toMatchObject({ items: [], n: 5 });
    expect(hash.opts).toBeUndefined();
    expect(hash.name).toBe('events');
    await queue.remove(job.id!);
    expect(await w.enqueue(t, items)).toMatchObject({ enqueued: 0, duplicates: 5 });
    // Done either way: through the job table (the first item) or its own empty value (the rest).
    expect(await lookUpItems(redis, prefix, 'events', 'jobs', 60_000, [items[0]!.k, items[4]!.k])).toEqual(['done', 'done']);
  });

  it('10,000 items: buckets split to a few dozen digests each, listpack-encoded, tens of bytes per item', async () => {
    const t = target('size');
    const w = writerOn(redis, 60_000);
    const items = keys(10_000);
    let enqueued = 0;
    for (let i = 0; i < items.length; i += 1000) enqueued += (await w.enqueue(t, items.slice(i, i + 1000))).enqueued;
    expect(enqueued).toBe(10_000);
    let again = 0;
    for (let i = 0; i < items.length; i += 1000) again += (await w.enqueue(t, items.slice(i, i + 1000))).duplicates;
    expect(again).toBe(10_000);

    const g = await generationNow(60_000);
    const mp = dedupeMemoryPrefix(prefix, 'events', 'size');
    const meta = await redis.hgetall(`${mp}${g}:m`);
    expect(Number(meta.n)).toBe(10_000);
    const buckets = 2 ** Number(meta.l) + Number(meta.s);
    expect(10_000 / buckets).toBeGreaterThan(20);
    expect(10_000 / buckets).toBeLessThanOrEqual(40);
    let bytes = 0;
    let fields = 0;
    for (let b = 0; b < buckets; b++) {
      const key = `${mp}${g}:b:${b}`;
      const n = await redis.hlen(key);
      fields += n;
      expect(n, key).toBeLessThan(128);
      expect(await redis.object('ENCODING', key)).toBe('listpack');
      expect((await redis.pttl(key)) > 60_000).toBe(true);
      bytes += Number(await redis.memory('USAGE', key, 'SAMPLES', '0'));
    }
    expect(fields).toBe(10_000);
    // The buckets: a digest (DIGEST_BYTES) and its job number, plus each key's share.
    expect(bytes / 10_000).toBeGreaterThan(DIGEST_BYTES);
    expect(bytes / 10_000).toBeLessThan(32);
  });
});
