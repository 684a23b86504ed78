/**
 * Per-profile order: operations on one profile take effect in the order they were received
 * (upsert before list add; subscribe then unsubscribe ends unsubscribed), without holding up
 * any other profile.
 *
 * At ingest every profile operation gets a sequence number from one counter per lane and joins
 * its profile's pending set (a sorted set scored by that number). A worker may apply an item only
 * while it is the lowest entry of its profile's set, and removes it once the item is delivered or
 * dead-lettered; an item that is not first waits (its job is delayed, spending no attempt). An
 * earlier item that is retrying holds the later ones back — that is the point.
 *
 * Entries cannot block forever: an entry whose job finished (completed or failed for good) or
 * never got added (a crash between this step and the job add; after a grace period) is dropped
 * by the first worker that finds it in the way.
 *
 * The order is per lane, across classes and sources (issue 12): the pending sets, the counter and
 * every queue of the lane's profiles share one hash tag. A member names its job as
 * `<queue>/<jobId>|<item key>|<ms>`; members written before queues were split by class name a job
 * of the legacy queue as `<jobId>|<item key>|<ms>` and are still understood.
 */
import { createHash } from 'node:crypto';
import type { RedisClient as Redis } from './redis.ts';
import { primaryIdentifier, type ProfileRef } from './model/profile-op.ts';
import type { PlannedJob } from './ingest/enqueue.ts';
import type { ProfileItem, Queues } from './queues.ts';
import { jobRef, legacyRef, type QueueRef } from './queue-catalog.ts';

/** A crash between joining the pending set and adding the job leaves an entry with no job; this long it is given. */
export const ORPHAN_GRACE_MS = 60_000;

export function profileOrderKey(lane: string, ref: ProfileRef): string {
  const id = primaryIdentifier(ref);
  if (!id) throw new TypeError('a profile operation needs an identifier');
  return createHash('sha256').update(`${lane}\n${id.field}\n${id.value}`).digest().subarray(0, 12).toString('base64url');
}

export function pendingKey(queues: Queues, lane: string, pk: string): string {
  return queues.key('profiles', lane, `pend:${pk}`);
}

/** Ingest side: number the items in arrival order and enter them in their profiles' pending sets. */
export async function enterPending(redis: Redis, queues: Queues, ref: QueueRef, jobs: readonly PlannedJob<ProfileItem>[]): Promise<void> {
  const lane = ref.lane;
  const n = jobs.reduce((a, j) => a + j.items.length, 0);
  if (n === 0) return;
  const last = await redis.incrby(queues.key('profiles', lane, 'seq'), n);
  let seq = last - n;
  const now = Date.now();
  const pipe = redis.pipeline();
  for (const job of jobs) {
    for (const item of job.items) {
      item.seq = ++seq;
      item.m = `${jobRef(ref, job.jobId)}|${item.k}|${now}`;
      pipe.zadd(pendingKey(queues, lane, item.pk), seq, item.m);
    }
  }
  const results = await pipe.exec();
  const failed = results?.find(([err]) => err);
  if (failed) throw failed[0];
}

// KEYS[1] pending set. ARGV: member, legacy queue's job key prefix ("<bullPrefix>:profiles.<lane>:"),
// the bull prefix, now ms, grace ms.
// 1 = the member is first (may proceed); 0 = an earlier live item is in the way.
const IS_FIRST = `
local key, me, legacy, bp = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local now, grace = tonumber(ARGV[4]), tonumber(ARGV[5])
for _ = 1, 100 do
  local head = redis.call('ZRANGE', key, 0, 0)[1]
  if not head then return 1 end
  if head == me then return 1 end
  local job, ts = string.match(head, '^([^|]+)|[^|]+|(%d+)$')
  local stale = false
  if not job then
    stale = true
  else
    local qp, jobId = legacy, job
    local q, id = string.match(job, '^([^/]+)/(.+)$')
    if q then qp, jobId = bp .. ':' .. q .. ':', id end
    if redis.call('EXISTS', qp .. jobId) == 0 then
      stale = now - tonumber(ts) > grace
    elseif redis.call('ZSCORE', qp .. 'failed', jobId) or redis.call('ZSCORE', qp .. 'completed', jobId) then
      stale = true
    end
  end
  if not stale then return 0 end
  redis.call('ZREM', key, head)
end
return 0
`;

export interface ProfileOrder {
  /** Which of these items may be applied now (each is first for its profile). */
  firsts(lane: string, items: readonly ProfileItem[]): Promise<boolean[]>;
  /** The items are done (delivered or dead-lettered): let the next ones go. */
  release(lane: string, items: readonly ProfileItem[]): Promise<void>;
}

export function createProfileOrder(redis: Redis, queues: Queues): ProfileOrder {
  return {
    async firsts(lane, items) {
      if (items.length === 0) return [];
      const legacy = queues.jobKeyPrefix(legacyRef('profiles', lane));
      const bp = queues.bullPrefix('profiles', lane);
      const now = Date.now();
      const pipe = redis.pipeline();
      for (const it of items) {
        if (it.m) pipe.eval(IS_FIRST, 1, pendingKey(queues, lane, it.pk), it.m, legacy, bp, now, ORPHAN_GRACE_MS);
        else pipe.echo('1'); // replayed without an order entry: nothing to wait for
      }
      const res = (await pipe.exec()) ?? [];
      return res.map(([err, v]) => {
        if (err) throw err;
        return Number(v) === 1;
      });
    },
    async release(lane, items) {
      const entered = items.filter((it) => it.m);
      if (entered.length === 0) return;
      const pipe = redis.pipeline();
      for (const it of entered) pipe.zrem(pendingKey(queues, lane, it.pk), it.m!);
      await pipe.exec();
    },
  };
}
