/**
 * What the workers write when work is delivered, and ingest and the ops read back: one home for
 * both sides' writes and reads. Key names are src/redis-keys.ts's; what an item key holds is
 * src/item-keys.ts's.
 *
 *  - Done marks. Each accepted item has a key (`…:id:<item key>`, kept for RELAY_DEDUP_TTL_S) that
 *    names the job carrying it (ingest's claim, src/lua/enqueue-claim.lua), and says `done` once
 *    that job completed: from then on a resend of the item is a duplicate at ingest, and
 *    `find` reports it delivered.
 *  - Delivered counters. Workers count what they deliver per queue in 10-second periods; the
 *    status sums the last minute of them (src/ops/class-status.ts, deliveredInLastMinute). Per
 *    minute, as before issue 12, the number lagged by up to a minute: a live stream that began
 *    30 s ago showed nothing.
 */
import type { RedisClient as Redis } from './redis.ts';
import type { JobKind, Queues } from './queues.ts';
import { queueName, type QueueRef } from './queue-catalog.ts';
import { DONE } from './item-keys.ts';
import { deliveredKey, itemKeyName } from './redis-keys.ts';

/** Workers: the items of a completed job are done; a resend of any of them is a duplicate. */
export async function markDone(redis: Redis, queues: Queues, kind: JobKind, lane: string, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const pipe = redis.pipeline();
  for (const k of keys) pipe.set(itemKeyName(queues.prefix, kind, lane, k), DONE, 'KEEPTTL', 'XX');
  await pipe.exec();
}

export const DELIVERED_PERIOD_MS = 10_000;
/** This period and the six before it: 60–70 s, of which deliveredInLastMinute takes 60. */
const DELIVERED_PERIODS = [0, 1, 2, 3, 4, 5, 6];

function periodKey(prefix: string, queue: QueueRef, period: number): string {
  return deliveredKey(prefix, queue.lane, queueName(queue), period);
}

/** Workers: `n` items of this queue were delivered now. */
export async function countDelivered(redis: Redis, prefix: string, queue: QueueRef, n: number): Promise<void> {
  if (n <= 0) return;
  const key = periodKey(prefix, queue, Math.floor(Date.now() / DELIVERED_PERIOD_MS));
  await redis.pipeline().incrby(key, n).expire(key, 600).exec();
}

/** Status: the items of this queue delivered in the period of `now` and each of the six before it, newest first. */
export async function readDelivered(redis: Redis, prefix: string, queue: QueueRef, now: number): Promise<number[]> {
  const period = Math.floor(now / DELIVERED_PERIOD_MS);
  // One GET per period, not an MGET: the keys are in different slots on a Redis Cluster.
  const values = await Promise.all(DELIVERED_PERIODS.map((i) => redis.get(periodKey(prefix, queue, period - i))));
  return values.map((n) => Number(n ?? 0));
}
