/**
 * Finding the jobs for a person or an order.
 *
 * By id (an event id, an order id, a profile update id, a list request's id): src/item-keys.ts
 * says which item keys the id can have — an order's every event, up to its last possible line —
 * and the dedupe memory (src/dedupe-memory.ts) leads from each straight to the job that carries
 * the item, or tells that it was delivered
 * and its job since pruned. Items whose key also names something the id does not (a list and a
 * member, a profile's lists) are found by the id stored on them: the most recent jobs of each
 * state of those kinds' queues are scanned (bounded per queue), as for a search by person.
 *
 * By email, phone or external id: BullMQ has no search, so the most recent jobs of each state of
 * every queue are scanned (bounded per queue).
 */
import type { Job } from 'bullmq';
import { jobRef, KINDS_FOUND_BY_STORED_ID, keysForId, madeFromId, readItemKeyValue } from '../item-keys.ts';
import { jobOrigin, openJobData, type StoredItem, type StoredJob } from '../job-data.ts';
import { JOB_KINDS, type JobKind, type Queues } from '../queues.ts';
import { lookUpItems } from '../dedupe-memory.ts';
import { legacyRef, queueName, type QueueRef } from '../queue-catalog.ts';
import { itemKeyName } from '../redis-keys.ts';
import type { RedisClient as Redis } from '../redis.ts';

export interface FoundJob {
  readonly ref: string;
  readonly queue: string;
  readonly jobId: string;
  readonly state: string;
  readonly acceptedAt?: number;
  /** How the job was found. */
  readonly via: 'id' | 'scan';
}

export interface FoundDelivered {
  readonly queue: string;
  readonly state: 'delivered';
  readonly via: 'id';
  readonly note: string;
}

const SCAN_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
/** Per queue and state: how far back a scan by identifier looks. */
export const SCAN_DEPTH = 2000;

export async function findJobs(
  redis: Redis,
  queues: Queues,
  lanes: readonly string[],
  sourceIds: readonly string[],
  q: { id?: string; email?: string; phone_number?: string; external_id?: string },
  dedupWindowMs = 0,
): Promise<(FoundJob | FoundDelivered)[]> {
  const out: (FoundJob | FoundDelivered)[] = [];
  const seen = new Set<string>();
  const push = async (q: QueueRef, job: Job | undefined, via: 'id' | 'scan') => {
    if (!job?.id) return;
    const ref = jobRef(q, job.id);
    if (seen.has(ref)) return;
    seen.add(ref);
    const { acceptedAt } = jobOrigin(job.data as StoredJob<unknown>);
    out.push({ ref, queue: queueName(q), jobId: job.id, state: await job.getState(), acceptedAt, via });
  };

  if (q.id) {
    const id = q.id;
    for (const kind of JOB_KINDS) {
      for (const lane of lanes) {
        const held = (
          await heldFor(
            redis,
            queues.prefix,
            kind,
            lane,
            dedupWindowMs,
            sourceIds.flatMap((src) => keysForId(kind, src, id)),
          )
        ).map((v) => readItemKeyValue(v, kind, lane));
        // Many items name the same job (an order's events share a few): each job is looked at once.
        const jobs = new Map<string, { ref: QueueRef; jobId: string }>();
        for (const at of held) if (!at.done) jobs.set(jobRef(at.ref, at.jobId), at);
        for (const at of jobs.values()) await push(at.ref, await queues.get(at.ref).getJob(at.jobId), 'id');
        const delivered = held.filter((at) => at.done).length;
        if (delivered > 0)
          out.push({
            queue: queueName(legacyRef(kind, lane)),
            state: 'delivered',
            via: 'id',
            note: `${delivered} item(s) with this id were delivered; their job is no longer kept`,
          });
      }
    }
    for (const ref of await queues.catalog.all(lanes, KINDS_FOUND_BY_STORED_ID)) {
      for (const job of await recentJobs(queues, ref)) {
        const data = job.data as StoredJob<StoredItem>;
        if ([...data.items, ...(data.dead ?? []).map((d) => d.item)].some((it) => madeFromId(it.id, id))) await push(ref, job, 'scan');
      }
    }
  }

  const needles = [
    q.email ? `"email":"${q.email.trim().toLowerCase()}"` : undefined,
    q.phone_number ? `"phone_number":"${q.phone_number.trim()}"` : undefined,
    q.external_id ? `"external_id":"${q.external_id.trim()}"` : undefined,
  ].filter((n): n is string => n !== undefined);
  if (needles.length > 0) {
    for (const q of await queues.catalog.all(lanes)) {
      for (const job of await recentJobs(queues, q)) {
        const text = JSON.stringify(openJobData(job.data as StoredJob<StoredItem>));
        const lower = text.toLowerCase();
        if (needles.some((n) => (n.startsWith('"email"') ? lower.includes(n) : text.includes(n)))) await push(q, job, 'scan');
      }
    }
  }
  return out;
}

/** The most recent jobs of each state of a queue, up to SCAN_DEPTH per state. */
async function recentJobs(queues: Queues, ref: QueueRef): Promise<Job[]> {
  return (await queues.get(ref).getJobs([...SCAN_STATES], 0, SCAN_DEPTH - 1)).filter((job): job is Job => Boolean(job));
}

/**
 * What the dedupe memory (src/dedupe-memory.ts) holds for each of these item keys, or, for an item
 * accepted before issue 18, its own key: the job that carries it, or `done`.
 */
async function heldFor(redis: Redis, prefix: string, kind: JobKind, lane: string, windowMs: number, keys: readonly string[]): Promise<string[]> {
  // Kinds keyed by what they are, not by an id (catalog, back in stock, coupon codes), name no keys: nothing to ask Redis.
  if (keys.length === 0) return [];
  const [memory, legacy] = await Promise.all([
    lookUpItems(redis, prefix, kind, lane, windowMs, keys),
    redis.mget(keys.map((k) => itemKeyName(prefix, kind, lane, k))),
  ]);
  return keys.map((_, i) => memory[i] ?? legacy[i] ?? undefined).filter((v): v is string => v !== undefined);
}
