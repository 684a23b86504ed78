/**
 * The queued-bytes counters on real Redis and real BullMQ jobs: counted once, released once, never
 * below 0, and healed when a release was lost (a worker that died, a job removed by hand).
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countQueuedBytes, healQueueBytes, pruneSourceLedger, recountQueuedBytes, releaseQueuedBytes } from '../../src/ingest/queued-bytes.ts';
import { bullPrefix, queueBytesKey, sourceBytesKey, sourceLedgerKey } from '../../src/redis-keys.ts';
import { createSourceLimiter } from '../../src/ingest/source-limits.ts';
import { createJobWriter } from '../../src/ingest/enqueue.ts';
import { createLogger } from '../../src/log.ts';
import { Queues } from '../../src/queues.ts';
import { legacyRef, queueRef } from '../../src/queue-catalog.ts';
import { createIngest } from '../../src/ingest/ingest.ts';
import { createRedis, waitForRedis } from '../../src/redis.ts';
import { deleteKeys, REDIS_URL, testRedis, uniquePrefix } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

let redis: Redis;
let prefix: string;
let queue: Queue;
const SRC = 'src-shop';

beforeAll(() => {
  redis = testRedis();
  prefix = uniquePrefix('qbytes');
  queue = new Queue('events.default', { connection: redis as never, prefix: bullPrefix(prefix, 'events', 'default') });
});
afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await deleteKeys(`${prefix}:*`);
});

const total = async () => Number((await redis.get(sourceBytesKey(prefix, SRC))) ?? 0);
const perQueue = async () => redis.get(queueBytesKey(queue.qualifiedName));

async function addCounted(id: string, b: number) {
  const job = await queue.add('events', { v: 1, src: SRC, lane: 'default', at: Date.now(), items: [], b, bs: 1 as const }, { jobId: id });
  await countQueuedBytes(redis, prefix, queue.qualifiedName, [{ jobId: id, bytes: b }], SRC);
  return job;
}

describe('queued bytes', () => {
  it('a job is counted once and released once: the counters never go below 0', async () => {
    const job = await addCounted('once', 700);
    // The same job counted again (two API processes adding one job id) is still one job for its source.
    await countQueuedBytes(redis, prefix, queue.qualifiedName, [{ jobId: 'once', bytes: 700 }], SRC);
    expect(await total()).toBe(700);
    await releaseQueuedBytes(redis, prefix, job);
    await releaseQueuedBytes(redis, prefix, job);
    expect(await redis.get(sourceBytesKey(prefix, SRC))).toBeNull();
    expect(await redis.hlen(sourceLedgerKey(prefix, SRC))).toBe(0);
    // The queue's counter saw 1,400 counted and 1,400 released: back to nothing. One more release
    // (a job counted by nobody) leaves it at nothing, not below.
    expect(await perQueue()).toBeNull();
    await releaseQueuedBytes(redis, prefix, job);
    expect(await perQueue()).toBeNull();
    await job.remove();
  });

  it('a job queued by an older version (no size) changes nothing when it finishes', async () => {
    await addCounted('kept', 300);
    const old = await queue.add('events', { v: 1, src: SRC, lane: 'default', at: Date.now(), items: [] }, { jobId: 'old' });
    await releaseQueuedBytes(redis, prefix, old);
    expect(await total()).toBe(300);
    expect(Number(await perQueue())).toBe(300);
    await queue.obliterate({ force: true });
    // One key at a time: on a cluster they live in different slots.
    for (const k of [sourceBytesKey(prefix, SRC), sourceLedgerKey(prefix, SRC), queueBytesKey(queue.qualifiedName)]) await redis.del(k);
  });

  it('the pruner releases the ledger entries of jobs that finished or are gone, and keeps the others', async () => {
    // A job completed by a worker that never released it (it died before its `completed` handler ran).
    await addCounted('finished', 1000);
    const worker = new Worker('events.default', async () => 'ok', {
      connection: redis.duplicate() as never,
      prefix: bullPrefix(prefix, 'events', 'default'),
      autorun: true,
    });
    try {
      await waitUntil('the job completed', async () => (await queue.getJobState('finished')) === 'completed', { timeoutMs: 10_000, intervalMs: 20 });
    } finally {
      await worker.close();
    }
    await addCounted('waiting', 200);
    // A job an operator removed by hand.
    const removed = await addCounted('removed', 30);
    await removed.remove();
    expect(await total()).toBe(1230);

    const { cursor, released } = await pruneSourceLedger(redis, prefix, SRC);
    expect(cursor).toBe('0');
    expect(released).toBe(1030);
    expect(await total()).toBe(200);
    expect(await redis.hkeys(sourceLedgerKey(prefix, SRC))).toEqual([`${queue.qualifiedName}:waiting`]);
    // The worker's release arriving late changes nothing (already released).
    await releaseQueuedBytes(redis, prefix, { id: 'finished', data: { src: SRC, b: 1000, bs: 1 }, queueQualifiedName: queue.qualifiedName });
    expect(await total()).toBe(200);
  });

  it('the API prunes the ledgers of its byte-limited sources on its own', async () => {
    const before = await total();
    const gone = await addCounted('gone', 400);
    await gone.remove(); // its release was lost
    expect(await total()).toBe(before + 400);
    const limiter = createSourceLimiter(redis, prefix, [{ id: SRC, name: 'shop', limits: { queuedBytes: 1_000_000 } }], createLogger('silent'), {
      pruneEveryMs: 100,
    });
    try {
      await waitUntil('the counter back where it was', async () => (await total()) === before, { timeoutMs: 5000, intervalMs: 50 });
    } finally {
      limiter.stop();
    }
  });

  it('a dead letter replayed counts again', async () => {
    const job = await addCounted('dead', 500);
    await releaseQueuedBytes(redis, prefix, job); // failed for good
    const before = await total();
    await recountQueuedBytes(redis, prefix, job);
    expect(await total()).toBe(before + 500);
    await releaseQueuedBytes(redis, prefix, job);
    expect(await total()).toBe(before);
  });
});

describe('queues per class and source', () => {
  it("ingest counts a job's bytes in the counter of the queue it goes to, the one releasing that job empties", async () => {
    const queues = new Queues(redis, prefix, { attempts: 1, keepCompletedS: 60 });
    try {
      const ingest = createIngest(redis, queues, 86_400_000);
      const item = (k: string) => ({ key: k, id: k, event: { metric: 'Viewed', profile: { email: `${k}@example.com` } } as never });
      await Promise.all([
        ingest.events({ id: 'key-classes', lane: 'classes', cls: 'live' }, [item('live-1')], 300),
        ingest.events({ id: 'key-classes', lane: 'classes', cls: 'bulk' }, [item('bulk-1'), item('bulk-2')], 800),
      ]);
      const live = queues.get(queueRef('events', 'classes', 'live', 'key-classes'));
      const bulk = queues.get(queueRef('events', 'classes', 'bulk', 'key-classes'));
      expect(await redis.get(queueBytesKey(live.qualifiedName))).toBe('300');
      expect(await redis.get(queueBytesKey(bulk.qualifiedName))).toBe('800');
      // Not in the lane's legacy queue, whose key prefix the claim's other keys use.
      expect(await redis.get(queueBytesKey(queues.get(legacyRef('events', 'classes')).qualifiedName))).toBeNull();
      // A Worker releases from its job's own queue: each counter goes back to nothing.
      for (const q of [live, bulk]) for (const job of await q.getWaiting()) await releaseQueuedBytes(redis, prefix, job);
      expect(await redis.get(queueBytesKey(live.qualifiedName))).toBeNull();
      expect(await redis.get(queueBytesKey(bulk.qualifiedName))).toBeNull();
    } finally {
      for (const q of queues.all()) await q.obliterate({ force: true });
      await queues.close();
    }
  });
});

describe('queues per class and source: the source ledger', () => {
  it('names each job by its key in its own queue: the pruner keeps a waiting job and releases a removed one', async () => {
    const queues = new Queues(redis, prefix, { attempts: 1, keepCompletedS: 60 });
    const src = 'src-ledger';
    try {
      const ingest = createIngest(redis, queues, 86_400_000, { countsSourceBytes: (id) => id === src });
      const item = (k: string) => ({ key: k, id: k, event: { metric: 'Viewed', profile: { email: `${k}@example.com` } } as never });
      await ingest.events({ id: src, lane: 'ledger', cls: 'bulk' }, [item('kept')], 400);
      await ingest.events({ id: src, lane: 'ledger', cls: 'live' }, [item('gone')], 100);
      expect(Number(await redis.get(sourceBytesKey(prefix, src)))).toBe(500);
      const bulk = queues.get(queueRef('events', 'ledger', 'bulk', src));
      const live = queues.get(queueRef('events', 'ledger', 'live', src));
      for (const job of await live.getWaiting()) await job.remove(); // its release was lost
      const { released } = await pruneSourceLedger(redis, prefix, src);
      expect(released).toBe(100);
      expect(Number(await redis.get(sourceBytesKey(prefix, src)))).toBe(400);
      const [waiting] = await bulk.getWaiting();
      expect(await redis.hkeys(sourceLedgerKey(prefix, src))).toEqual([`${bulk.qualifiedName}:${waiting!.id}`]);
    } finally {
      for (const q of queues.all()) await q.obliterate({ force: true });
      await queues.close();
      for (const k of [sourceBytesKey(prefix, src), sourceLedgerKey(prefix, src)]) await redis.del(k);
    }
  });
});

describe("a queue's byte counter heals", () => {
  let q: Queue;
  beforeAll(() => {
    q = new Queue('events.heal', { connection: redis as never, prefix: bullPrefix(prefix, 'events', 'heal') });
  });
  afterAll(async () => {
    await q.obliterate({ force: true });
    await q.close();
  });
  const key = () => queueBytesKey(q.qualifiedName);

  it('reset when the queue is empty at two reads and the counter did not move between them', async () => {
    await redis.set(key(), 5000); // leaked: no job left to release it
    const first = await healQueueBytes(redis, q.qualifiedName, '');
    expect(first).toEqual({ bytes: 5000, emptyAt: '5000' });
    const second = await healQueueBytes(redis, q.qualifiedName, first.emptyAt);
    expect(second.bytes).toBe(0);
    expect(await redis.get(key())).toBeNull();
  });

  it('not while a job waits, nor when the counter moved (a release on its way)', async () => {
    await redis.set(key(), 5000);
    await q.add('events', { items: [] }, { jobId: 'w1' });
    const busy = await healQueueBytes(redis, q.qualifiedName, '5000');
    expect(busy).toEqual({ bytes: 5000, emptyAt: '' });
    await q.drain();
    const first = await healQueueBytes(redis, q.qualifiedName, '');
    await redis.decrby(key(), 1000); // a release landed between the reads
    const second = await healQueueBytes(redis, q.qualifiedName, first.emptyAt);
    expect(second.bytes).toBe(4000);
    expect((await healQueueBytes(redis, q.qualifiedName, second.emptyAt)).bytes).toBe(0);
  });
});

// The API's connection no longer auto-pipelines (src/redis.ts, issue 18); the commands are still
// defined before traffic, so that a connection that does (a Cluster set up so) never breaks.
describe('on an auto-pipelining connection', () => {
  it('the commands are there before their first use, even in a tick whose pipeline already holds commands', async () => {
    // Found by the fuzz suite: the backlog guard's first read defined the commands while ingest's
    // commands of that tick were pending in a pipeline built without them; ioredis then threw
    // "results[i] is not iterable" and every command of that pipeline hung.
    const api = createRedis(REDIS_URL, 'api', { enableAutoPipelining: true }) as Redis;
    const queues = new Queues(api, prefix, { attempts: 1, keepCompletedS: 60 });
    try {
      await waitForRedis(api, 10_000);
      createJobWriter(api, queues, 86_400_000, { kind: 'events', data: () => ({}) }); // what every API process builds at start
      const qualified = queues.get(queueRef('events', 'piped', 'live', 'src-piped')).qualifiedName;
      const tick = Promise.all([
        api.get(`${qualified}:nothing`), // opens this tick's pipeline
        healQueueBytes(api, qualified, ''),
        countQueuedBytes(api, prefix, qualified, [{ jobId: 'p1', bytes: 5 }], 'src-piped'),
        releaseQueuedBytes(api, prefix, { id: 'p1', data: { src: 'src-piped', b: 5, bs: 1 }, queueQualifiedName: qualified }),
      ]);
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([tick.then(() => 'answered'), new Promise((r) => (timer = setTimeout(() => r('hung'), 3000)))]);
      clearTimeout(timer);
      expect(outcome).toBe('answered');
    } finally {
      await queues.close();
      api.disconnect();
    }
  });
});
