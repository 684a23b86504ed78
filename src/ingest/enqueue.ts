/**
 * Puts accepted items into BullMQ, once.
 *
 * Each item is remembered for RELAY_DEDUP_TTL_S in the dedupe memory (src/dedupe-memory.ts: a
 * digest of its key, naming the job that carries it, `done` once that job completed). Two steps
 * per request:
 *   1. claim (one Lua call, atomic: src/lua/enqueue-claim.lua): an item is a duplicate if the
 *      memory names a job that is `done` or still exists; otherwise it now names this request's job;
 *   2. add the jobs for the claimed items.
 * A crash between the two leaves items naming jobs that do not exist, which step 1 treats as
 * unclaimed: the client's retry adds the job. Nothing accepted is lost, and nothing is added twice
 * while its job or its `done` mark is there; past that, Klaviyo's unique_id absorbs a resend.
 * Job ids derive from the request's items, so identical concurrent requests collapse into one job
 * (BullMQ ignores an add whose job id exists).
 *
 * Measured on the 2-core machine: this is two Redis commands per single-event request where
 * look-up → add → record was three; the API spends ~30% less CPU per request.
 *
 * Group commit: calls for the same target (lane, class, source) made in the same event-loop turn
 * (concurrent requests) are written together — one claim and one job add per 100 items instead of
 * one per request. Each caller is still answered only once its own items are in Redis. What the
 * jobs of a group hold and what runs before they are added is fixed per job kind when its writer
 * is made (JobSpec), and depends on nothing but the target: calls that share a flush cannot differ
 * in it.
 *
 * The caller answers only after this resolves: Redis has acknowledged every job.
 */
import type { RedisClient as Redis } from '../redis.ts';
import { DONE, jobIdForItems, jobRef } from '../item-keys.ts';
import { setJobBytes, setMemoryPlace } from '../job-data.ts';
import { BUCKET_LOAD, DIGEST_BYTES, digestsOf, GENERATIONS } from '../dedupe-memory.ts';
import { MAX_ITEMS_PER_JOB, type JobKind, type Queues } from '../queues.ts';
import { queueName, queueRef, type QueueRef } from '../queue-catalog.ts';
import type { PriorityClass } from '../priority.ts';
import { luaScript } from '../lua/script.ts';
import { claimRouteKey, dedupeMemoryPrefix, itemKeyPrefix, legacyJobKeyPrefix, queueBytesKey } from '../redis-keys.ts';
import { countQueuedBytes, defineQueuedBytesCommands } from './queued-bytes.ts';
import { currentTraceparent } from '../tracing/tracer.ts';

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

/** Where a call's items go: the lane, class and source they came with. Calls for one target in one turn share a flush. */
export interface EnqueueTarget {
  readonly lane: string;
  readonly cls: PriorityClass;
  readonly source: string;
}

/**
 * One kind of job, as every flush of its writer makes it. Each part is a function of the target
 * (and of the items), never of a call: the calls of a flush share it.
 */
export interface JobSpec<I extends EnqueueItem, D extends object> {
  readonly kind: JobKind;
  /** A job's data for some of its items; `acceptedAt` is when the flush's first call came (ms since epoch). */
  readonly data: (target: EnqueueTarget, items: I[], acceptedAt: number) => D;
  /**
   * Runs after dedupe and before the jobs are added, with the job each new item will be in
   * (e.g. to give profile operations their place in the per-profile order).
   */
  readonly prepare?: (ref: QueueRef, jobs: readonly PlannedJob<I>[]) => Promise<void>;
  /** At most this many items per job (default MAX_ITEMS_PER_JOB). */
  readonly itemsPerJob?: number;
  /**
   * Whether a source's queued-bytes ledger counts its jobs (a source with `limits.queuedBytes`);
   * every job is counted in its queue's byte counter either way (src/ingest/queued-bytes.ts).
   */
  readonly countsSourceBytes?: (source: string) => boolean;
}

export interface JobWriter<I extends EnqueueItem> {
  /** `bytes`: the bytes of the request that carried these items (shared equally among them). */
  enqueue(target: EnqueueTarget, items: readonly I[], bytes?: number): Promise<EnqueueResult>;
}

const CLAIM = luaScript({
  name: 'enqueue-claim',
  keys: ['route'],
  args: ['memoryPrefix', 'itemKeyPrefix', 'legacyJobs', 'bullPrefix', 'windowMs', 'items', 'digests', 'jobRefs', 'perJob', 'sizes', 'queueBytes'],
  // `claimed`: one character per item, '1' claimed or '0' a duplicate (a string is cheaper to send and read than 1,000 integers).
  reply: (raw) => {
    const [claimed, places] = raw as [string, string[]];
    return { claimed, places };
  },
  constants: { DONE, DIGEST_BYTES, GENERATIONS, BUCKET_LOAD },
});

/** '1' in the claim's reply. */
const CLAIMED = 0x31;

export function createJobWriter<I extends EnqueueItem, D extends object>(redis: Redis, queues: Queues, dedupTtlMs: number, spec: JobSpec<I, D>): JobWriter<I> {
  // Defined now, before any traffic (see LuaScript.define): safe on an auto-pipelining connection too.
  CLAIM.define(redis);
  defineQueuedBytesCommands(redis);
  const perJob = spec.itemsPerJob ?? MAX_ITEMS_PER_JOB;

  interface Call {
    readonly items: readonly I[];
    readonly bytes: number;
    /** The caller's trace (src/tracing/), only while tracing is on: its jobs continue it. */
    readonly tp: string | undefined;
    readonly resolve: (r: EnqueueResult) => void;
    readonly reject: (e: unknown) => void;
  }
  interface Group {
    readonly target: EnqueueTarget;
    readonly ref: QueueRef;
    readonly acceptedAt: number;
    readonly calls: Call[];
  }
  const groups = new Map<string, Group>();

  async function flush(g: Group): Promise<void> {
    // An item twice (in one request, or in two concurrent ones) is one item: the first wins.
    // `slots[c][n]` is where call c's n-th item is in `all`, or -1 for a repeat (a duplicate to its
    // caller). Each item carries its share of its request's bytes (`sizes`, aligned with `all`), a
    // whole number: a job's size is the sum of its items', exactly what the counters are given.
    // The claim gets the sizes as runs (`<bytes>*<items>`): a request's items share one size.
    const seen = new Set<string>();
    const all: I[] = [];
    const sizes: number[] = [];
    const runs: string[] = [];
    const slots: Int32Array[] = [];
    // A job continues the trace of the call its first item came with (tracing on only: no map otherwise).
    let traceOf: Map<I, string> | undefined;
    for (const c of g.calls) {
      const share = c.items.length > 0 ? Math.max(1, Math.round(c.bytes / c.items.length)) : 0;
      const at = new Int32Array(c.items.length);
      let run = 0;
      for (let n = 0; n < c.items.length; n++) {
        const it = c.items[n]!;
        if (seen.has(it.k)) {
          at[n] = -1;
          if (run > 0) runs.push(`${share}*${run}`);
          run = 0;
          continue;
        }
        seen.add(it.k);
        at[n] = all.length;
        all.push(it);
        sizes.push(share);
        run++;
        if (c.tp) {
          traceOf ??= new Map();
          traceOf.set(it, c.tp);
        }
      }
      if (run > 0) runs.push(`${share}*${run}`);
      slots.push(at);
    }

    // Jobs are planned over all the items, so that a retry of the same request names the same
    // jobs whatever was claimed before.
    const { kind, lane } = g.ref;
    const chunks: (PlannedJob<I> & { sizes: number[] })[] = [];
    for (let i = 0; i < all.length; i += perJob) {
      const chunk = all.slice(i, i + perJob);
      chunks.push({
        jobId: jobIdForItems(
          kind,
          chunk.map((it) => it.k),
        ),
        items: chunk,
        sizes: sizes.slice(i, i + perJob),
      });
    }
    // Which of `all` are now this flush's to add (not duplicates): all of them without dedupe.
    let claimed: string | undefined;
    let planned: (PlannedJob<I> & { sizes: number[]; place?: string })[] = chunks;
    if (dedupTtlMs > 0 && all.length > 0) {
      const keys = all.map((it) => it.k);
      const reply = await CLAIM.run(redis, {
        keys: { route: claimRouteKey(queues.prefix, kind, lane) },
        args: {
          memoryPrefix: dedupeMemoryPrefix(queues.prefix, kind, lane),
          itemKeyPrefix: itemKeyPrefix(queues.prefix, kind, lane),
          legacyJobs: legacyJobKeyPrefix(queues.prefix, kind, lane),
          bullPrefix: queues.bullPrefix(kind, lane),
          windowMs: dedupTtlMs,
          items: keys.join(' '),
          digests: digestsOf(keys),
          jobRefs: chunks.map((c) => jobRef(g.ref, c.jobId)).join(' '),
          perJob,
          sizes: runs.join(' '),
          // BullMQ's qualifiedName of the queue the jobs go to is `<bullPrefix>:<queue>`; the workers
          // release from that queue's counter (releaseQueuedBytes), so the claim must count in it.
          queueBytes: queueBytesKey(`${queues.bullPrefix(kind, lane)}:${queueName(g.ref)}`),
        },
      });
      claimed = reply.claimed;
      const places = reply.places;
      planned = [];
      chunks.forEach((c, n) => {
        const base = n * perJob;
        // The common case, every item new: the chunk as planned.
        const dup = claimed!.indexOf('0', base);
        if (dup === -1 || dup >= base + c.items.length) {
          if (c.items.length > 0) planned.push({ ...c, place: places[n] || undefined });
          return;
        }
        const items: I[] = [];
        const kept: number[] = [];
        c.items.forEach((it, j) => {
          if (claimed!.charCodeAt(base + j) !== CLAIMED) return;
          items.push(it);
          kept.push(c.sizes[j]!);
        });
        if (items.length > 0) planned.push({ jobId: c.jobId, items, sizes: kept, place: places[n] || undefined });
      });
    }
    if (planned.length > 0) {
      await spec.prepare?.(g.ref, planned);
      // The workers find a queue through the registry: it is in there before its first job.
      await queues.catalog.register(g.ref);
      const queue = queues.get(g.ref);
      const bytesSource = spec.countsSourceBytes?.(g.target.source) ? g.target.source : undefined;
      const counted = planned.map((p) => ({ jobId: p.jobId, bytes: p.sizes.reduce((n, x) => n + x, 0) }));
      // One add per job rather than addBulk: addBulk wraps the adds in MULTI, which costs ~4x the
      // client CPU for a single job (measured), and jobs need no atomicity together — a request
      // that fails half-way is retried, and the job ids make the retry idempotent.
      await Promise.all(
        planned.map((p, j) => {
          // The job's size goes into its data (src/job-data.ts), which the workers release it by.
          const data: D & { b?: number; bs?: 1; tp?: string; d?: string } = { ...spec.data(g.target, p.items, g.acceptedAt) };
          setJobBytes(data, counted[j]!.bytes, bytesSource !== undefined);
          const tp = traceOf?.get(p.items[0]!);
          if (tp) data.tp = tp;
          // Where its items are in the dedupe memory: the workers mark the job done there.
          if (p.place) setMemoryPlace(data, p.place);
          return queue.add(kind, data, { jobId: p.jobId });
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

    // Each call: its items that were first (in the flush) and claimed are enqueued, in the job of their chunk.
    g.calls.forEach((c, n) => {
      let enqueued = 0;
      const jobIds = new Set<string>();
      for (const i of slots[n]!) {
        if (i < 0 || (claimed !== undefined && claimed.charCodeAt(i) !== CLAIMED)) continue;
        enqueued++;
        jobIds.add(chunks[Math.floor(i / perJob)]!.jobId);
      }
      c.resolve({ enqueued, duplicates: c.items.length - enqueued, jobIds: [...jobIds] });
    });
  }

  return {
    enqueue(target, items, bytes = 0) {
      return new Promise<EnqueueResult>((resolve, reject) => {
        // The whole target is the key: everything a flush decides follows from it.
        const key = `${target.lane}\n${target.cls}\n${target.source}`;
        let g = groups.get(key);
        if (!g) {
          g = { target, ref: queueRef(spec.kind, target.lane, target.cls, target.source), acceptedAt: Date.now(), calls: [] };
          groups.set(key, g);
          const group = g;
          setImmediate(() => {
            groups.delete(key);
            flush(group).catch((err) => {
              for (const c of group.calls) c.reject(err);
            });
          });
        }
        g.calls.push({ items, bytes, tp: currentTraceparent(), resolve, reject });
      });
    },
  };
}
