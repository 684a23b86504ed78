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
import { jobIdForItems } from '../model/ids.ts';
import { MAX_ITEMS_PER_JOB, type JobKind, type Queues } from '../queues.ts';
import { jobRef, queueName, type QueueRef } from '../queue-catalog.ts';

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
}

export interface Enqueuer {
  enqueue<I extends EnqueueItem>(
    ref: QueueRef,
    items: readonly I[],
    makeData: (items: I[]) => object,
    opts?: EnqueueOptions<I>,
  ): Promise<EnqueueResult>;
}

/** The value an item key holds once its job completed. */
export const DONE = 'done';

// One call per flush whatever its size. Item keys travel as one space-separated argument and are
// built here, not as KEYS: encoding a thousand arguments cost the API ~6 µs of CPU per item
// (measured). KEYS[1], a key of the kind and lane, routes the call; every item key and every queue
// of the kind and lane share its hash tag, so in a cluster they live in one slot (src/queue-catalog.ts).
// An item key names the job that carries the item as "<queue>/<jobId>" (any of the lane's queues:
// the same id may come back with another class), or a bare job id of the legacy queue (written by
// versions before issue 12).
// ARGV: item key prefix, legacy queue's job key prefix ("<bullPrefix>:<kind>.<lane>:"), the bull
// prefix, TTL ms, item keys, job refs (one per item). Returns, per item, 1 when claimed, 0 for a duplicate.
const CLAIM = `
local keyPrefix, legacyJobs, bp, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local jobs = {}
for j in string.gmatch(ARGV[6], '%S+') do jobs[#jobs + 1] = j end
local function jobKey(v)
  local q, id = string.match(v, '^([^/]+)/(.+)$')
  if q then return bp .. ':' .. q .. ':' .. id end
  return legacyJobs .. v
end
local out, i = {}, 0
for k in string.gmatch(ARGV[5], '%S+') do
  i = i + 1
  local key = keyPrefix .. k
  local v = redis.call('GET', key)
  if v == 'done' or (v and redis.call('EXISTS', jobKey(v)) == 1) then
    out[i] = 0
  else
    redis.call('SET', key, jobs[i], 'PX', ttl)
    out[i] = 1
  end
end
return out
`;

type ClaimingRedis = Redis & { relayClaim(key: string, ...args: (string | number)[]): Promise<number[]> };

export function itemKeyName(queues: Queues, kind: JobKind, lane: string, k: string): string {
  return queues.key(kind, lane, `id:${k}`);
}

export function createEnqueuer(redis: Redis, queues: Queues, dedupTtlMs: number): Enqueuer {
  // defineCommand: sent by EVALSHA once loaded, and auto-pipelined with the rest of the tick.
  // numberOfKeys is fixed so that the call's first argument is its key: ioredis routes an
  // auto-pipelined custom command by its first argument, and a leading numkeys ("1") put the
  // claim into the pipeline of whichever cluster node serves slot("1") — rejected whenever that
  // was not the queue's node ("All keys in the pipeline should belong to the same slots
  // allocation group", seen by test:cluster).
  if (!('relayClaim' in redis)) redis.defineCommand('relayClaim', { lua: CLAIM, numberOfKeys: 1 });
  const claiming = redis as ClaimingRedis;

  /**
   * Group commit: calls for the same queue and source made in the same event-loop turn (concurrent
   * requests) are written together — one claim and one job add per 100 items instead of one per
   * request. Each caller is still answered only once its own items are in Redis.
   */
  const groups = new Map<string, Group>();

  interface Call {
    readonly items: readonly EnqueueItem[];
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
    const first = new Map<string, EnqueueItem>();
    for (const c of g.calls) for (const it of c.items) if (!first.has(it.k)) first.set(it.k, it);
    const all = [...first.values()];

    // Jobs are planned over all the items, so that a retry of the same request names the same
    // jobs whatever was claimed before.
    const perJob = g.opts?.itemsPerJob ?? MAX_ITEMS_PER_JOB;
    const chunks: PlannedJob<EnqueueItem>[] = [];
    for (let i = 0; i < all.length; i += perJob) {
      const chunk = all.slice(i, i + perJob);
      chunks.push({ jobId: jobIdForItems(g.ref.kind, chunk.map((it) => it.k)), items: chunk });
    }
    let planned = chunks;
    if (dedupTtlMs > 0 && all.length > 0) {
      const { kind, lane } = g.ref;
      const claimed = await claiming.relayClaim(
        queues.key(kind, lane, 'meta'),
        itemKeyName(queues, kind, lane, ''),
        queues.key(kind, lane, ''),
        queues.bullPrefix(kind, lane),
        dedupTtlMs,
        all.map((it) => it.k).join(' '),
        chunks.map((c) => c.items.map(() => jobRef(g.ref, c.jobId)).join(' ')).join(' '),
      );
      let i = 0;
      planned = chunks.map((c) => ({ jobId: c.jobId, items: c.items.filter(() => claimed[i++] === 1) })).filter((c) => c.items.length > 0);
    }
    if (planned.length > 0) {
      await g.opts?.prepare?.(planned);
      // The workers find a queue through the registry: it is in there before its first job.
      await queues.catalog.register(g.ref);
      const queue = queues.get(g.ref);
      // One add per job rather than addBulk: addBulk wraps the adds in MULTI, which costs ~4x the
      // client CPU for a single job (measured), and jobs need no atomicity together — a request
      // that fails half-way is retried, and the job ids make the retry idempotent.
      await Promise.all(planned.map((p) => queue.add(g.ref.kind, g.makeData(p.items), { jobId: p.jobId })));
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
    enqueue(ref, items, makeData, opts) {
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
        g.calls.push({ items, resolve, reject });
      });
    },
  };
}

/** Workers: the items of a completed job are done; a resend of any of them is a duplicate. */
export async function markDone(redis: Redis, queues: Queues, kind: JobKind, lane: string, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const pipe = redis.pipeline();
  for (const k of keys) pipe.set(itemKeyName(queues, kind, lane, k), DONE, 'KEEPTTL', 'XX');
  await pipe.exec();
}
