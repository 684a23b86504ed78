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

// KEYS: total, ledger. ARGV: job key, bytes, job key, bytes, … Counts each job once.
const SOURCE_ADD = `
local added = 0
for i = 1, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then added = added + tonumber(ARGV[i + 1]) end
end
if added > 0 then redis.call('INCRBY', KEYS[1], added) end
return added
`;

// KEYS: total, ledger. ARGV: job key. Releases it if the ledger still holds it; returns the bytes.
// A total that would go below 0 was changed behind the ledger's back: it is recomputed from it.
const SOURCE_RELEASE = `
local b = redis.call('HGET', KEYS[2], ARGV[1])
if not b then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HLEN', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  return tonumber(b)
end
if redis.call('DECRBY', KEYS[1], b) < 0 then
  local sum = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[2])) do sum = sum + tonumber(v) end
  redis.call('SET', KEYS[1], sum)
end
return tonumber(b)
`;

// KEYS: counter. ARGV: bytes. Never below 0: a decrement past it deletes the key.
const QUEUE_RELEASE = `
local left = redis.call('DECRBY', KEYS[1], ARGV[1])
if left <= 0 then redis.call('DEL', KEYS[1]) return 0 end
return left
`;

// KEYS: counter, then the queue's lists (wait, paused, active) and sorted sets (prioritized,
// delayed, waiting-children). ARGV[1]: the value the previous read saw with the queue empty ('' if
// it was not). Returns {bytes, 1 if the queue is empty}; resets the counter when it is empty now,
// was empty then, and the counter has not moved.
const QUEUE_HEAL = `
local v = redis.call('GET', KEYS[1])
if not v then return {0, 1} end
for i = 2, 4 do if redis.call('LLEN', KEYS[i]) > 0 then return {tonumber(v), 0} end end
for i = 5, 7 do if redis.call('ZCARD', KEYS[i]) > 0 then return {tonumber(v), 0} end end
if ARGV[1] == v then
  redis.call('DEL', KEYS[1])
  return {0, 1}
end
return {tonumber(v), 1}
`;

type BytesRedis = Redis & {
  relaySourceBytesAdd(total: string, ledger: string, ...args: (string | number)[]): Promise<number>;
  relaySourceBytesRelease(total: string, ledger: string, field: string): Promise<number>;
  relayQueueBytesRelease(counter: string, bytes: number): Promise<number>;
  relayQueueBytesHeal(...keysAndArg: string[]): Promise<[number, number]>;
};

/**
 * Defines this module's Lua commands on a connection. Call it when the connection is set up, before
 * traffic (createEnqueuer does, for every connection ingest uses): ioredis copies a connection's
 * custom commands into each auto-pipeline as the pipeline is created, so a command defined while a
 * pipeline is pending is missing from it — its first call then breaks that whole pipeline (the
 * callbacks outnumber the replies: "results[i] is not iterable", thrown from ioredis, and every
 * command of the pipeline hangs). The fuzz suite hit it when the backlog guard's first read shared
 * a tick with ingest.
 */
export function defineQueuedBytesCommands(redis: Redis): void {
  commands(redis);
}

function commands(redis: Redis): BytesRedis {
  // numberOfKeys fixed, so a command's first argument is its first key: ioredis routes (and
  // auto-pipelines) a custom command by it (see src/ingest/enqueue.ts).
  if (!('relaySourceBytesAdd' in redis)) {
    redis.defineCommand('relaySourceBytesAdd', { lua: SOURCE_ADD, numberOfKeys: 2 });
    redis.defineCommand('relaySourceBytesRelease', { lua: SOURCE_RELEASE, numberOfKeys: 2 });
    redis.defineCommand('relayQueueBytesRelease', { lua: QUEUE_RELEASE, numberOfKeys: 1 });
    redis.defineCommand('relayQueueBytesHeal', { lua: QUEUE_HEAL, numberOfKeys: 7 });
  }
  return redis as BytesRedis;
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
  const r = commands(redis);
  const writes: Promise<unknown>[] = queueToo ? [r.incrby(queueBytesKey(queueQualifiedName), total)] : [];
  if (ledgerOf !== undefined) {
    const args: (string | number)[] = [];
    for (const j of jobs) args.push(jobKey(queueQualifiedName, j.jobId), j.bytes);
    writes.push(r.relaySourceBytesAdd(sourceBytesKey(prefix, ledgerOf), sourceLedgerKey(prefix, ledgerOf), ...args));
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
  const r = commands(redis);
  await Promise.all([
    r.relayQueueBytesRelease(queueBytesKey(job.queueQualifiedName), bytes),
    ledgerSource !== undefined
      ? r.relaySourceBytesRelease(sourceBytesKey(prefix, ledgerSource), sourceLedgerKey(prefix, ledgerSource), jobKey(job.queueQualifiedName, job.id))
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
  const [bytes, empty] = await commands(redis).relayQueueBytesHeal(
    queueBytesKey(queueQualifiedName),
    k('wait'),
    k('paused'),
    k('active'),
    k('prioritized'),
    k('delayed'),
    k('waiting-children'),
    emptyAt,
  );
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
  const r = commands(redis);
  const total = sourceBytesKey(prefix, sourceId);
  const ledger = sourceLedgerKey(prefix, sourceId);
  let released = 0;
  let seen = 0;
  do {
    const [next, flat] = await r.hscan(ledger, cursor, 'COUNT', 500);
    cursor = next;
    const jobs = flat.filter((_, i) => i % 2 === 0);
    seen += jobs.length;
    // A job's hash has `timestamp` from the moment it is added, and `finishedOn` once it completed
    // or failed for good (a replay removes it). Separate commands: job keys live in other slots.
    const states = await Promise.all(jobs.map((j) => r.hmget(j, 'timestamp', 'finishedOn')));
    const done = jobs.filter((_, i) => states[i]![0] === null || states[i]![1] !== null);
    const freed = await Promise.all(done.map((j) => r.relaySourceBytesRelease(total, ledger, j)));
    released += freed.reduce((n, x) => n + x, 0);
  } while (cursor !== '0' && seen < maxEntries);
  return { cursor, released };
}
