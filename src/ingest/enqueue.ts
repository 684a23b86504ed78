/**
 * Puts accepted items into BullMQ, once.
 *
 * Each item has a key (`…:id:<item key>`, kept for RELAY_DEDUP_TTL_S) naming the job that carries
 * it, or `done` once that job completed. Two steps per request:
 *   1. claim (one Lua call, atomic): an item is a duplicate if its key says `done` or names a job
 *      that still exists; otherwise the key now names this request's job;
 *   2. add the jobs for the claimed items.
 * A crash between the two leaves keys naming jobs that do not exist, which step 1 treats as
 * unclaimed: the client's retry adds the job. Nothing accepted is lost, and nothing is added twice
 * while its job or its `done` mark is there; past that, Klaviyo's unique_id absorbs a resend.
 * Job ids derive from the request's items, so identical concurrent requests collapse into one job
 * (BullMQ ignores an add whose job id exists).
 *
 * Measured on the 2-core machine: this is two Redis commands per single-event request where
 * look-up → add → record was three; the API spends ~30% less CPU per request.
 *
 * The caller answers only after this resolves: Redis has acknowledged every job.
 */
import type { RedisClient as Redis } from '../redis.ts';
import { DONE, jobIdForItems, jobRef } from '../item-keys.ts';
import { setJobBytes } from '../job-data.ts';
import { MAX_ITEMS_PER_JOB, type JobKind, type Queues } from '../queues.ts';
import { queueName, type QueueRef } from '../queue-catalog.ts';
import { claimRouteKey, itemKeyName, itemKeyPrefix, legacyJobKeyPrefix, queueBytesKey } from '../redis-keys.ts';
import { countQueuedBytes, defineQueuedBytesCommands } from './queued-bytes.ts';

export interface EnqueueItem {
  readonly k: string;
}

export interface EnqueueResult {
  /** Items that were new and are now in jobs. */
  readonly enqueued: number;
  /** Items already accepted before (same source and id). */
  readonly duplicates: number;
  readonly jobIds: readonly string[];
  /** Redis could not take it: it is in this process's local spool (fsync'ed), and moves to Redis later. */
  readonly spooled?: boolean;
}

export interface PlannedJob<I> {
  readonly jobId: string;
  readonly items: I[];
}

export interface EnqueueOptions<I> {
  /**
   * Runs after dedupe and before the jobs are added, with the job each new item will be in
   * (e.g. to give profile operations their place in the per-profile order).
   */
  readonly prepare?: (jobs: readonly PlannedJob<I>[]) => Promise<void>;
  /** At most this many items per job (default MAX_ITEMS_PER_JOB). */
  readonly itemsPerJob?: number;
  /**
   * Calls for the same queue and group in the same event-loop turn may share jobs; the group must
   * make `makeData` and `prepare` interchangeable (the source id does).
   */
  readonly group?: string;
  /**
   * The source whose queued-bytes ledger counts these jobs (a source with `limits.queuedBytes`);
   * every job is counted in its queue's byte counter either way (src/ingest/queued-bytes.ts).
   */
  readonly bytesSource?: string;
}

export interface Enqueuer {
  enqueue<I extends EnqueueItem>(
    ref: QueueRef,
    items: readonly I[],
    makeData: (items: I[]) => object,
    opts?: EnqueueOptions<I>,
    /** The bytes of the request that carried these items (shared equally among them). */
    bytes?: number,
  ): Promise<EnqueueResult>;
}

// One call per flush whatever its size. Item keys travel as one space-separated argument and are
// built here, not as KEYS: encoding a thousand arguments cost the API ~6 µs of CPU per item
// (measured). KEYS[1], a key of the kind and lane, routes the call; every item key and every queue
// of the kind and lane share its hash tag, so in a cluster they live in one slot (src/queue-catalog.ts).
// An item key names the job that carries the item as "<queue>/<jobId>" (any of the lane's queues:
// the same id may come back with another class), or a bare job id of the legacy queue (written by
// versions before issue 12).
// ARGV: item key prefix, legacy queue's job key prefix ("<bullPrefix>:<kind>.<lane>:"), the bull
// prefix, TTL ms, item keys, job refs (one per item), item sizes in bytes (one per item), the byte
// counter of the queue the jobs go to. Returns, per item, 1 when claimed, 0 for a duplicate.
// The claimed items' bytes join that queue's byte counter here (`<bullPrefix>:<queue>:qbytes`, the
// key queueBytesKey names for the queue's qualifiedName, which the workers release from;
// src/ingest/queued-bytes.ts), a moment before their jobs are added: a separate INCRBY once the
// adds were acknowledged cost single-event ingest ~5 µs of CPU per request (about 15% of the
// enqueue path, measured). An add that fails after its claim leaves the count high by that job
// until the queue is next seen empty, when it heals; the retry counts it again.
const CLAIM = `
local keyPrefix, legacyJobs, bp, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local jobs = {}
for j in string.gmatch(ARGV[6], '%S+') do jobs[#jobs + 1] = j end
local sizes = {}
for n in string.gmatch(ARGV[7] or '', '%S+') do sizes[#sizes + 1] = tonumber(n) end
local function jobKey(v)
  local q, id = string.match(v, '^([^/]+)/(.+)$')
  if q then return bp .. ':' .. q .. ':' .. id end
  return legacyJobs .. v
end
local out, i, bytes = {}, 0, 0
for k in string.gmatch(ARGV[5], '%S+') do
  i = i + 1
  local key = keyPrefix .. k
  local v = redis.call('GET', key)
  if v == 'done' or (v and redis.call('EXISTS', jobKey(v)) == 1) then
    out[i] = 0
  else
    redis.call('SET', key, jobs[i], 'PX', ttl)
    out[i] = 1
    bytes = bytes + (sizes[i] or 0)
  end
end
if bytes > 0 then redis.call('INCRBY', ARGV[8], bytes) end
return out
`;

type ClaimingRedis = Redis & { relayClaim(key: string, ...args: (string | number)[]): Promise<number[]> };

export function createEnqueuer(redis: Redis, queues: Queues, dedupTtlMs: number): Enqueuer {
  // defineCommand: sent by EVALSHA once loaded, and auto-pipelined with the rest of the tick.
  // numberOfKeys is fixed so that the call's first argument is its key: ioredis routes an
  // auto-pipelined custom command by its first argument, and a leading numkeys ("1") put the
  // claim into the pipeline of whichever cluster node serves slot("1") — rejected whenever that
  // was not the queue's node ("All keys in the pipeline should belong to the same slots
  // allocation group", seen by test:cluster).
  if (!('relayClaim' in redis)) redis.defineCommand('relayClaim', { lua: CLAIM, numberOfKeys: 1 });
  // Likewise now, before any traffic: see defineQueuedBytesCommands.
  defineQueuedBytesCommands(redis);
  const claiming = redis as ClaimingRedis;

  /**
   * Group commit: calls for the same queue and source made in the same event-loop turn (concurrent
   * requests) are written together — one claim and one job add per 100 items instead of one per
   * request. Each caller is still answered only once its own items are in Redis.
   */
  const groups = new Map<string, Group>();

  interface Call {
    readonly items: readonly EnqueueItem[];
    readonly bytes: number;
    readonly resolve: (r: EnqueueResult) => void;
    readonly reject: (e: unknown) => void;
  }
  interface Group {
    readonly ref: QueueRef;
    readonly makeData: (items: EnqueueItem[]) => object;
    readonly opts?: EnqueueOptions<EnqueueItem>;
    readonly calls: Call[];
  }

  async function flush(g: Group): Promise<void> {
    // An item twice (in one request, or in two concurrent ones) is one item: the first wins.
    // Each item carries its share of its request's bytes (`sizes`, aligned with `all`), a whole
    // number: a job's size is the sum of its items', exactly what the counters are given.
    const first = new Map<string, EnqueueItem>();
    const all: EnqueueItem[] = [];
    const sizes: number[] = [];
    for (const c of g.calls) {
      const share = c.items.length > 0 ? Math.max(1, Math.round(c.bytes / c.items.length)) : 0;
      for (const it of c.items) {
        if (first.has(it.k)) continue;
        first.set(it.k, it);
        all.push(it);
        sizes.push(share);
      }
    }

    // Jobs are planned over all the items, so that a retry of the same request names the same
    // jobs whatever was claimed before.
    const perJob = g.opts?.itemsPerJob ?? MAX_ITEMS_PER_JOB;
    const chunks: (PlannedJob<EnqueueItem> & { sizes: number[] })[] = [];
    for (let i = 0; i < all.length; i += perJob) {
      const chunk = all.slice(i, i + perJob);
      chunks.push({
        jobId: jobIdForItems(
          g.ref.kind,
          chunk.map((it) => it.k),
        ),
        items: chunk,
        sizes: sizes.slice(i, i + perJob),
      });
    }
    let planned = chunks;
    if (dedupTtlMs > 0 && all.length > 0) {
      const { kind, lane } = g.ref;
      const claimed = await claiming.relayClaim(
        claimRouteKey(queues.prefix, kind, lane),
        itemKeyPrefix(queues.prefix, kind, lane),
        legacyJobKeyPrefix(queues.prefix, kind, lane),
        queues.bullPrefix(kind, lane),
        dedupTtlMs,
        all.map((it) => it.k).join(' '),
        chunks.map((c) => c.items.map(() => jobRef(g.ref, c.jobId)).join(' ')).join(' '),
        sizes.join(' '),
        // BullMQ's qualifiedName of the queue the jobs go to is `<bullPrefix>:<queue>`; the workers
        // release from that queue's counter (releaseQueuedBytes), so the claim must count in it.
        queueBytesKey(`${queues.bullPrefix(kind, lane)}:${queueName(g.ref)}`),
      );
      let i = 0;
      planned = chunks
        .map((c) => {
          const items: EnqueueItem[] = [];
          const kept: number[] = [];
          c.items.forEach((it, j) => {
            if (claimed[i++] !== 1) return;
            items.push(it);
            kept.push(c.sizes[j]!);
          });
          return { jobId: c.jobId, items, sizes: kept };
        })
        .filter((c) => c.items.length > 0);
    }
    if (planned.length > 0) {
      await g.opts?.prepare?.(planned);
      // The workers find a queue through the registry: it is in there before its first job.
      await queues.catalog.register(g.ref);
      const queue = queues.get(g.ref);
      const bytesSource = g.opts?.bytesSource;
      const counted = planned.map((p) => ({ jobId: p.jobId, bytes: p.sizes.reduce((n, x) => n + x, 0) }));
      // One add per job rather than addBulk: addBulk wraps the adds in MULTI, which costs ~4x the
      // client CPU for a single job (measured), and jobs need no atomicity together — a request
      // that fails half-way is retried, and the job ids make the retry idempotent.
      await Promise.all(
        planned.map((p, j) => {
          const data = g.makeData(p.items) as { b?: number; bs?: 1 };
          setJobBytes(data, counted[j]!.bytes, bytesSource !== undefined);
          return queue.add(g.ref.kind, data, { jobId: p.jobId });
        }),
      );
      // The source's ledger only now, with the jobs acknowledged (and the queue's counter too when
      // there was no claim to count them). Best effort: the jobs are in Redis and the caller gets
      // its 2xx; a count lost here makes a limit lenient by that much until the work drains
      // (src/ingest/queued-bytes.ts), never stricter.
      const countQueue = !(dedupTtlMs > 0);
      if (countQueue || bytesSource !== undefined) {
        await countQueuedBytes(redis, queues.prefix, queue.qualifiedName, counted, bytesSource, countQueue).catch(() => undefined);
      }
    }

    const jobOf = new Map<EnqueueItem, string>();
    for (const p of planned) for (const it of p.items) jobOf.set(it, p.jobId);
    for (const c of g.calls) {
      let enqueued = 0;
      const jobIds = new Set<string>();
      for (const it of c.items) {
        const jobId = jobOf.get(it);
        if (jobId !== undefined) {
          enqueued++;
          jobIds.add(jobId);
          jobOf.delete(it); // counted once, for the first call that carried it
        }
      }
      c.resolve({ enqueued, duplicates: c.items.length - enqueued, jobIds: [...jobIds] });
    }
  }

  return {
    enqueue(ref, items, makeData, opts, bytes = 0) {
      return new Promise<EnqueueResult>((resolve, reject) => {
        const key = `${queueName(ref)}\n${opts?.group ?? ''}`;
        let g = groups.get(key);
        if (!g) {
          g = { ref, makeData: makeData as Group['makeData'], opts: opts as Group['opts'], calls: [] };
          groups.set(key, g);
          const group = g;
          setImmediate(() => {
            groups.delete(key);
            flush(group).catch((err) => {
              for (const c of group.calls) c.reject(err);
            });
          });
        }
        g.calls.push({ items, bytes, resolve, reject });
      });
    },
  };
}

/** Workers: the items of a completed job are done; a resend of any of them is a duplicate. */
export async function markDone(redis: Redis, queues: Queues, kind: JobKind, lane: string, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const pipe = redis.pipeline();
  for (const k of keys) pipe.set(itemKeyName(queues.prefix, kind, lane, k), DONE, 'KEEPTTL', 'XX');
  await pipe.exec();
}
