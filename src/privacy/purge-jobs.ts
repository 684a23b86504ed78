/**
 * Erasure in the queues (issue 16): every job of every kind, lane, class and source that holds an
 * item about the person loses that item.
 *   - Not yet delivered (waiting, delayed, prioritized, paused): the item is cancelled — taken out
 *     of its job, its dedupe key and its place in the per-profile order released — so it is never
 *     sent. A job left empty is removed (its bytes released), so a resend of the same items gets
 *     its id again; one a worker took meanwhile completes with nothing to send.
 *   - Being sent now (active): it cannot be recalled; its job is purged once it finishes (waited
 *     for, bounded). Klaviyo's deletion job, queued after, erases what it delivered there.
 *   - Delivered (completed) and dead letters (failed, `dead` too): the item is removed from the
 *     kept data; a dead letter left empty is removed.
 * The Klaviyo deletion request itself (an `erase` operation) is never cancelled.
 *
 * Each store's purge is its own small function (items, dedupe entries, order entries), so a change to
 * how one of them is kept touches one place.
 */
import { Job } from 'bullmq';
import type { RedisClient as Redis } from '../redis.ts';
import { openStoredItem, type StoredItem, type StoredJob, type StoredProfileItem } from '../job-data.ts';
import type { Queues } from '../queues.ts';
import { queueName, type QueueRef } from '../queue-catalog.ts';
import { dedupeJobTableKey, dedupeMemoryPrefix, itemKeyName, jobHashKey, pendingSetKey } from '../redis-keys.ts';
import { DIGEST_BYTES, digestsOf, parseMemoryPlace } from '../dedupe-memory.ts';
import { luaScript } from '../lua/script.ts';
import { defineQueuedBytesCommands, releaseQueuedBytes } from '../ingest/queued-bytes.ts';
import { SEALED_MARK } from '../payload-cipher.ts';
import type { PersonMatcher } from './person.ts';
import { RemovalLog } from './removals.ts';

type Data = StoredJob<StoredItem>;

const UNSENT = ['waiting', 'delayed', 'prioritized', 'paused', 'waiting-children'] as const;
const PAGE = 200;
/** How long an erasure waits for jobs being sent at the moment of the request to finish, before purging them. */
export const ACTIVE_WAIT_MS = 15_000;

/** Whose item it is (index into the matcher's people), or -1; erasure requests are nobody's. */
export function ownerOf(matcher: PersonMatcher, item: StoredItem): number {
  const open = openStoredItem(item);
  if ('o' in open && (open as StoredProfileItem).o.op === 'erase') return -1;
  return matcher.which(JSON.stringify(open));
}

const RELEASE = luaScript({
  name: 'dedupe-release',
  keys: ['jobTable'],
  args: ['memoryPrefix', 'generation', 'number', 'digests'],
  reply: (raw) => raw as number,
  constants: { DIGEST_BYTES },
});

/** Defines the erasure's scripts on its connection (when it is set up, before traffic: src/lua/script.ts). */
export function definePurgeScripts(redis: Redis): void {
  RELEASE.define(redis);
  defineQueuedBytesCommands(redis);
}

/**
 * Cancelled items' dedupe entries: a resend after the erasure is new data, not a duplicate of what
 * was cancelled. Their digests leave the dedupe memory (src/dedupe-memory.ts) where they still name
 * this job; a job queued before issue 18 (no place `d`) has one legacy key per item instead.
 */
async function releaseItemKeys(redis: Redis, queues: Queues, ref: QueueRef, data: Data, items: readonly StoredItem[]): Promise<void> {
  if (items.length === 0) return;
  const at = parseMemoryPlace(data.d);
  if (at)
    await RELEASE.run(redis, {
      keys: { jobTable: dedupeJobTableKey(queues.prefix, ref.kind, ref.lane, at.generation) },
      args: {
        memoryPrefix: dedupeMemoryPrefix(queues.prefix, ref.kind, ref.lane),
        generation: at.generation,
        number: at.number,
        digests: digestsOf(items.map((it) => it.k)),
      },
    });
  else await redis.del(...items.map((it) => itemKeyName(queues.prefix, ref.kind, ref.lane, it.k)));
}

/** Cancelled profile operations leave their profile's order, or they would hold later operations back. */
async function releaseOrderEntries(redis: Redis, queues: Queues, ref: QueueRef, items: readonly StoredItem[]): Promise<void> {
  if (ref.kind !== 'profiles') return;
  const pipe = redis.pipeline();
  for (const it of items as StoredProfileItem[]) if (it.m) pipe.zrem(pendingSetKey(queues.prefix, ref.lane, it.pk), it.m);
  await pipe.exec();
}

/**
 * A job not yet delivered that the erasure left empty is removed, and its bytes leave the queue's
 * counters as its worker would have released them. False if it could not be (a worker took it
 * meanwhile): it is then left empty, and completes with nothing to send.
 */
async function removeUnsent(redis: Redis, queues: Queues, job: Job<Data>): Promise<boolean> {
  try {
    await job.remove();
  } catch {
    return false;
  }
  await releaseQueuedBytes(redis, queues.prefix, job);
  return true;
}

/** Splits a job's items and dead letters into kept and the person's (per person index). */
function split(matcher: PersonMatcher, data: Data) {
  const removed: { owner: number; item: StoredItem; dead: boolean }[] = [];
  const items = data.items.filter((item) => {
    const owner = ownerOf(matcher, item);
    if (owner >= 0) removed.push({ owner, item, dead: false });
    return owner < 0;
  });
  const dead = data.dead?.filter((d) => {
    const owner = ownerOf(matcher, d.item);
    if (owner >= 0) removed.push({ owner, item: d.item, dead: true });
    return owner < 0;
  });
  return { removed, data: { ...data, items, ...(dead ? { dead } : {}) } };
}

/** Purges one job in a known state; returns false if nothing of the people's was in it. */
async function purgeJob(
  redis: Redis,
  queues: Queues,
  ref: QueueRef,
  job: Job<Data>,
  state: string,
  matcher: PersonMatcher,
  logs: readonly RemovalLog[],
): Promise<boolean> {
  const { removed, data } = split(matcher, job.data);
  if (removed.length === 0) return false;
  const place = `queue ${queueName(ref)}`;
  const total = state === 'completed' ? 'completed' : state === 'failed' ? 'deadLetters' : 'queued';
  for (const r of removed) logs[r.owner]!.add(total, place, 1, state);
  const empty = data.items.length === 0 && (data.dead?.length ?? 0) === 0;
  if (state === 'failed' && empty) await job.remove();
  else if (total === 'queued' && empty && (await removeUnsent(redis, queues, job))) {
    // Removed: its id, which a resend of the same items would be given again (src/ingest/enqueue.ts
    // names jobs by their items), is free for that resend; kept, BullMQ would ignore its add.
  } else await job.updateData(data);
  if (total === 'queued') {
    const cancelled = removed.map((r) => r.item);
    await releaseItemKeys(redis, queues, ref, job.data, cancelled);
    await releaseOrderEntries(redis, queues, ref, cancelled);
  }
  return true;
}

/**
 * The jobs of a state that may hold one of the people: every job's stored data is read in
 * pipelines of PAGE (one HGET each) and only those that mention a person — or are sealed, so
 * cannot be judged unopened — are loaded whole. An erasure scans every job the relay keeps; this
 * keeps that to one round trip per PAGE jobs (a batch of 100 erasures scans once).
 */
async function jobsIn(redis: Redis, queues: Queues, ref: QueueRef, state: string, matcher: PersonMatcher): Promise<Job<Data>[]> {
  const q = queues.get(ref);
  const ids = await q.getRanges([state as 'waiting'], 0, -1, true);
  const out: Job<Data>[] = [];
  for (let at = 0; at < ids.length; at += PAGE) {
    const page = ids.slice(at, at + PAGE);
    const pipe = redis.pipeline();
    for (const id of page) pipe.hget(jobHashKey(q.qualifiedName, id), 'data');
    const raws = (await pipe.exec()) ?? [];
    for (const [i, [err, raw]] of raws.entries()) {
      if (err || typeof raw !== 'string') continue;
      if (!raw.includes(SEALED_MARK) && matcher.which(raw) < 0) continue;
      const job = (await Job.fromId(q, page[i]!)) as Job<Data> | undefined;
      if (job?.data?.items) out.push(job);
    }
  }
  return out;
}

/**
 * Purges the people's items from every queue of `lanes`. `logs[i]` gets person i's removals.
 * Jobs active at the time are waited for (up to `activeWaitMs`) and purged once finished.
 */
export async function purgeJobs(
  redis: Redis,
  queues: Queues,
  lanes: readonly string[],
  matcher: PersonMatcher,
  logs: readonly RemovalLog[],
  activeWaitMs = ACTIVE_WAIT_MS,
  requestedAt = Date.now(),
): Promise<void> {
  // Work accepted after the request (while the scan runs) is new data: it is left alone.
  const before = (jobs: Job<Data>[]) => jobs.filter((j) => !(j.data.at >= requestedAt));
  const busy: { ref: QueueRef; job: Job<Data> }[] = [];
  for (const ref of await queues.catalog.all(lanes)) {
    // Undelivered work first: the sooner it is cancelled, the less chance a worker takes it meanwhile.
    for (const state of [...UNSENT, 'completed', 'failed'])
      for (const job of before(await jobsIn(redis, queues, ref, state, matcher))) await purgeJob(redis, queues, ref, job, state, matcher, logs);
    for (const job of before(await jobsIn(redis, queues, ref, 'active', matcher))) {
      const { removed } = split(matcher, job.data);
      for (const r of removed) logs[r.owner]!.add('inFlight', `queue ${queueName(ref)}`, 1, 'active');
      if (removed.length > 0) busy.push({ ref, job });
    }
  }
  const deadline = Date.now() + activeWaitMs;
  // Counted as in flight above; what the finished job still holds is not counted again.
  const uncounted = logs.map(() => new RemovalLog());
  for (const { ref, job } of busy) {
    for (;;) {
      const fresh = (await queues.get(ref).getJob(job.id!)) as Job<Data> | undefined;
      if (!fresh) break;
      const state = await fresh.getState();
      if (state !== 'active' || Date.now() > deadline) {
        // Finished, or still sending at the deadline: then its data is purged now, though a retry
        // written back by its worker may bring the item back (README, "Erasure").
        await purgeJob(redis, queues, ref, fresh, state === 'active' ? 'completed' : state, matcher, uncounted);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
