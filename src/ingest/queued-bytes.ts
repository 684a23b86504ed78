/**
 * Bytes of accepted work not yet finished, counted per queue (backpressure:
 * RELAY_MAX_QUEUED_BYTES) and, for sources with `limits.queuedBytes`, per source.
 *
 * What is counted: the bytes of the request bodies that carried the work, shared equally among the
 * items each request produced (an order's events share the order's bytes). That is what a sender
 * can reason about, and it costs ingest nothing: measuring each job's JSON instead cost ~1.3 µs
 * per item (about 7% of ingest's CPU on 1,000-event requests, measured). Redis holds roughly
 * 1.5–2× that (job keys, dedupe keys). Work without a body (webhook rules, an old spool record) is
 * measured as its items' JSON.
 *
 * Each job records its size in its data and whether its source's ledger counts it (src/job-data.ts, JobBytes).
 * A source's ledger counts a job once Redis has acknowledged it; a queue's counter as its items
 * are claimed, in the dedupe claim's Lua call a moment before the add (no extra Redis command on
 * the hot path; src/ingest/enqueue.ts) — spooled work when the spool moves it into Redis. Both go
 * down when a job finishes — completed, or failed for good — through releaseQueuedBytes, which
 * the workers call. A dead letter replayed is counted again (recountQueuedBytes).
 *
 * Keeping them true:
 *  - Per source, a ledger (hash: job key → bytes, in the source's tag) beside the total. A job is
 *    counted once (HSETNX) and released once (HDEL decides), so a release never runs twice and the
 *    total never goes below 0 — whoever releases first, the worker or the pruner. The pruner
 *    (pruneSourceLedger, run by the API every few seconds) releases entries whose job finished or
 *    is gone: a worker that died before its `completed` handler ran, a job an operator removed.
 *    This does not depend on how queues are laid out: a ledger entry names its job's key.
 *  - Per queue, a plain counter in the queue's tag (a ledger for every job would cost Redis ~15%
 *    more memory on single-event jobs). A decrement that would go below 0 deletes the key (= 0).
 *    It heals when the queue is empty: healQueueBytes, run by the backlog guard every second,
 *    resets it atomically (in the queue's slot) when the queue held no job at two reads in a row
 *    and the counter did not move between them — so a release still on its way is not erased
 *    under a job that has just arrived.
 */
import type { RedisClient as Redis } from '../redis.ts';
import { luaScript } from '../lua/script.ts';
import { jobBytes, type StoredJob } from '../job-data.ts';
import { jobHashKey, queueBytesKey, sourceBytesKey, sourceLedgerKey } from '../redis-keys.ts';

/** The fields a job's data carries for this. */
type QueuedBytesData = Pick<StoredJob<unknown>, 'src' | 'b' | 'bs'>;

/** What releaseQueuedBytes needs of a job: BullMQ's Job has all three. */
export interface CountedJob {
  readonly id?: string;
  readonly data: QueuedBytesData;
  /** `<bullPrefix>:<queue name>` */
  readonly queueQualifiedName: string;
}

/** A ledger entry names its job by the job's key (its hash). */
const jobKey = jobHashKey;

// This module's Lua (each file's header is its contract).
const SOURCE_ADD = luaScript({ name: 'source-bytes-add', keys: ['total', 'ledger'], args: ['jobs[]'], reply: Number });
const SOURCE_RELEASE = luaScript({ name: 'source-bytes-release', keys: ['total', 'ledger'], args: ['job'], reply: Number });
const QUEUE_RELEASE = luaScript({ name: 'queue-bytes-release', keys: ['counter'], args: ['bytes'], reply: Number });
const QUEUE_HEAL = luaScript({
  name: 'queue-bytes-heal',
  keys: ['counter', 'wait', 'paused', 'active', 'prioritized', 'delayed', 'waitingChildren'],
  args: ['emptyAt'],
  reply: (raw) => (raw as unknown[]).map(Number) as [number, number],
});
const SCRIPTS = [SOURCE_ADD, SOURCE_RELEASE, QUEUE_RELEASE, QUEUE_HEAL];

/**
 * Defines this module's Lua commands on a connection. Call it when the connection is set up, before
 * traffic (createJobWriter does, for every connection ingest uses; src/lua/script.ts tells why).
 * The fuzz suite hit it when the backlog guard's first read shared a tick with ingest.
 */
export function defineQueuedBytesCommands(redis: Redis): void {
  for (const script of SCRIPTS) script.define(redis);
}

/**
 * Ingest, once Redis acknowledged the jobs: their bytes join the source's ledger (`ledgerOf`) and,
 * unless the dedupe claim already counted them there (src/ingest/enqueue.ts), the queue's counter.
 */
export async function countQueuedBytes(
  redis: Redis,
  prefix: string,
  queueQualifiedName: string,
  jobs: readonly { readonly jobId: string; readonly bytes: number }[],
  ledgerOf?: string,
  queueToo = true,
): Promise<void> {
  const total = jobs.reduce((n, j) => n + j.bytes, 0);
  if (total <= 0) return;
  const writes: Promise<unknown>[] = queueToo ? [redis.incrby(queueBytesKey(queueQualifiedName), total)] : [];
  if (ledgerOf !== undefined) {
    const entries: (string | number)[] = [];
    for (const j of jobs) entries.push(jobKey(queueQualifiedName, j.jobId), j.bytes);
    writes.push(
      SOURCE_ADD.run(redis, { keys: { total: sourceBytesKey(prefix, ledgerOf), ledger: sourceLedgerKey(prefix, ledgerOf) }, args: { jobs: entries } }),
    );
  }
  await Promise.all(writes);
}

/**
 * Workers, when a job finished (completed, or failed for good): its bytes leave the counters.
 * A job without `b` (queued by an older version) was never counted.
 */
export async function releaseQueuedBytes(redis: Redis, prefix: string, job: CountedJob): Promise<void> {
  const { bytes, ledgerSource } = jobBytes(job.data);
  if (!bytes || job.id === undefined) return;
  await Promise.all([
    QUEUE_RELEASE.run(redis, { keys: { counter: queueBytesKey(job.queueQualifiedName) }, args: { bytes } }),
    ledgerSource !== undefined
      ? SOURCE_RELEASE.run(redis, {
          keys: { total: sourceBytesKey(prefix, ledgerSource), ledger: sourceLedgerKey(prefix, ledgerSource) },
          args: { job: jobKey(job.queueQualifiedName, job.id) },
        })
      : undefined,
  ]);
}

/** A dead letter replayed is accepted-but-not-finished work again: counted as it was at ingest. */
export async function recountQueuedBytes(redis: Redis, prefix: string, job: CountedJob): Promise<void> {
  const { bytes, ledgerSource } = jobBytes(job.data);
  if (!bytes || job.id === undefined) return;
  await countQueuedBytes(redis, prefix, job.queueQualifiedName, [{ jobId: job.id, bytes }], ledgerSource);
}

/** The source's queued bytes now (0 when none). */
export async function sourceQueuedBytes(redis: Redis, prefix: string, sourceId: string): Promise<number> {
  return Number((await redis.get(sourceBytesKey(prefix, sourceId))) ?? 0);
}

/**
 * Reads a queue's byte counter, healing it when the queue is empty (see the top of this file).
 * `emptyAt`: what the previous call returned as `emptyAt` for this queue.
 */
export async function healQueueBytes(redis: Redis, queueQualifiedName: string, emptyAt: string): Promise<{ bytes: number; emptyAt: string }> {
  const k = (type: string) => `${queueQualifiedName}:${type}`;
  const [bytes, empty] = await QUEUE_HEAL.run(redis, {
    keys: {
      counter: queueBytesKey(queueQualifiedName),
      wait: k('wait'),
      paused: k('paused'),
      active: k('active'),
      prioritized: k('prioritized'),
      delayed: k('delayed'),
      waitingChildren: k('waiting-children'),
    },
    args: { emptyAt },
  });
  return { bytes, emptyAt: empty === 1 && bytes > 0 ? String(bytes) : '' };
}

/**
 * Releases the ledger entries of jobs that finished or are gone. Looks at up to `maxEntries`
 * entries from `cursor` (HSCAN's) and returns where to go on next time ('0': the whole ledger was
 * seen) and the bytes released.
 */
export async function pruneSourceLedger(
  redis: Redis,
  prefix: string,
  sourceId: string,
  cursor = '0',
  maxEntries = 10_000,
): Promise<{ cursor: string; released: number }> {
  const total = sourceBytesKey(prefix, sourceId);
  const ledger = sourceLedgerKey(prefix, sourceId);
  let released = 0;
  let seen = 0;
  do {
    const [next, flat] = await redis.hscan(ledger, cursor, 'COUNT', 500);
    cursor = next;
    const jobs = flat.filter((_, i) => i % 2 === 0);
    seen += jobs.length;
    // A job's hash has `timestamp` from the moment it is added, and `finishedOn` once it completed
    // or failed for good (a replay removes it). Separate commands: job keys live in other slots.
    const states = await Promise.all(jobs.map((j) => redis.hmget(j, 'timestamp', 'finishedOn')));
    const done = jobs.filter((_, i) => states[i]![0] === null || states[i]![1] !== null);
    const freed = await Promise.all(done.map((j) => SOURCE_RELEASE.run(redis, { keys: { total, ledger }, args: { job: j } })));
    released += freed.reduce((n, x) => n + x, 0);
  } while (cursor !== '0' && seen < maxEntries);
  return { cursor, released };
}
