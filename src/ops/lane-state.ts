/**
 * Whether a lane is paused, and pausing or resuming it: shared by the workers (a refused
 * credential pauses the lane, a probe resumes it) and the ops API (operators do both by hand).
 * The pause is a Redis record with its reason plus BullMQ's own pause of the lane's queues — every
 * queue in the catalog (src/queue-catalog.ts). A queue that appears while the lane is paused gets
 * no worker until the record is gone (workers/start.ts), so it needs no pause of its own.
 */
import type { RedisClient as Redis } from '../redis.ts';
import type { ItemError } from '../job-data.ts';
import type { Queues } from '../queues.ts';
import { lanePausedKey } from '../redis-keys.ts';

/** The kinds whose workers call Klaviyo (webhook jobs only fan out into these). */
const PAUSABLE = ['events', 'profiles', 'back-in-stock', 'coupon-codes'] as const;

export interface PauseInfo {
  readonly since: number;
  readonly status: number;
  readonly origin: ItemError['origin'];
  readonly detail?: string;
  readonly lastProbe?: number;
  /** Who paused it, when an operator did. */
  readonly by?: string;
}

export async function readPause(redis: Redis, prefix: string, lane: string): Promise<PauseInfo | null> {
  const raw = await redis.get(lanePausedKey(prefix, lane));
  return raw ? (JSON.parse(raw) as PauseInfo) : null;
}

async function laneQueues(queues: Queues, lane: string) {
  return (await Promise.all(PAUSABLE.map((k) => queues.catalog.list(k, lane)))).flat().map((ref) => queues.get(ref));
}

/** The record first, then the queues: a queue registered after they were listed sees the record. */
export async function pauseLane(redis: Redis, queues: Queues, lane: string, info: PauseInfo): Promise<boolean> {
  const first = (await redis.set(lanePausedKey(queues.prefix, lane), JSON.stringify(info), 'NX')) === 'OK';
  await Promise.all((await laneQueues(queues, lane)).map((q) => q.pause()));
  return first;
}

/** The queues first, then the record: a resume cut short leaves the record, and the next resume finishes it. */
export async function resumeLane(redis: Redis, queues: Queues, lane: string): Promise<void> {
  await Promise.all((await laneQueues(queues, lane)).map((q) => q.resume()));
  await redis.del(lanePausedKey(queues.prefix, lane));
}
