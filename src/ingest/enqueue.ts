/**
 * Puts accepted items into BullMQ, once.
 *
 * Dedupe has three steps, ordered so that a crash between any two never loses an item:
 *   1. look up each item's key (`…:id:<key>`); items already seen are duplicates;
 *   2. add the rest as jobs whose ids derive from their keys (identical concurrent requests
 *      collapse into one job: BullMQ ignores an add whose job id exists);
 *   3. record the keys (SET NX with a TTL), pointing at the job.
 * A crash after 2 and before 3 means a retry adds the same job id again (a no-op while the job
 * exists); past that, a second delivery is absorbed by Klaviyo's unique_id. Claiming first would
 * be cheaper and wrong: a crash after the claim would turn the client's retry into a silent loss.
 *
 * The caller answers only after this resolves: Redis has acknowledged every job.
 */
import type { Redis } from 'ioredis';
import { jobIdForItems } from '../model/ids.ts';
import { MAX_ITEMS_PER_JOB, type JobKind, type Queues } from '../queues.ts';

export interface EnqueueItem {
  readonly k: string;
}

export interface EnqueueResult {
  /** Items that were new and are now in jobs. */
  readonly enqueued: number;
  /** Items already accepted before (same source and id). */
  readonly duplicates: number;
  readonly jobIds: readonly string[];
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
}

export interface Enqueuer {
  enqueue<I extends EnqueueItem>(
    kind: JobKind,
    lane: string,
    items: readonly I[],
    makeData: (items: I[]) => object,
    opts?: EnqueueOptions<I>,
  ): Promise<EnqueueResult>;
}

export function createEnqueuer(redis: Redis, queues: Queues, dedupTtlMs: number): Enqueuer {
  return {
    async enqueue(kind, lane, items, makeData, opts) {
      // The same id twice in one request is one item.
      const unique = new Map<string, (typeof items)[number]>();
      for (const it of items) if (!unique.has(it.k)) unique.set(it.k, it);
      let fresh = [...unique.values()];

      const dedupKey = (k: string) => queues.key(kind, lane, `id:${k}`);
      if (dedupTtlMs > 0 && fresh.length > 0) {
        const seen = await redis.mget(fresh.map((it) => dedupKey(it.k)));
        fresh = fresh.filter((_, i) => seen[i] === null);
      }
      const duplicates = items.length - fresh.length;
      if (fresh.length === 0) return { enqueued: 0, duplicates, jobIds: [] };

      const queue = queues.get(kind, lane);
      const planned: PlannedJob<(typeof fresh)[number]>[] = [];
      const perJob = opts?.itemsPerJob ?? MAX_ITEMS_PER_JOB;
      for (let i = 0; i < fresh.length; i += perJob) {
        const chunk = fresh.slice(i, i + perJob);
        planned.push({ jobId: jobIdForItems(kind, chunk.map((it) => it.k)), items: chunk });
      }
      await opts?.prepare?.(planned);
      await queue.addBulk(planned.map((p) => ({ name: kind, data: makeData(p.items), opts: { jobId: p.jobId } })));
      const keysByJob: [string, string[]][] = planned.map((p) => [p.jobId, p.items.map((it) => it.k)]);

      if (dedupTtlMs > 0) {
        const pipe = redis.pipeline();
        for (const [jobId, keys] of keysByJob) for (const k of keys) pipe.set(dedupKey(k), jobId, 'PX', dedupTtlMs, 'NX');
        // The jobs are safely in Redis at this point: a failed claim only means a later resend is
        // not recognised here (Klaviyo's unique_id still absorbs it), so it must not fail the request.
        await pipe.exec().catch(() => undefined);
      }
      return { enqueued: fresh.length, duplicates, jobIds: keysByJob.map(([id]) => id) };
    },
  };
}
