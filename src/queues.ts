/**
 * Default job options, and the open queues. What a job holds is src/job-data.ts's.
 *
 * Queues are per job kind, lane, priority class and source (src/queue-catalog.ts names them). A
 * lane is one Klaviyo account (a Maton connection, or a direct key): pausing or rate-limiting one
 * account never holds up another.
 *
 * A job carries up to MAX_ITEMS_PER_JOB items from one request. Storing a 1,000-event request as
 * ten jobs instead of a thousand is what lets ingest keep up (BullMQ's add costs ~50 µs per job on
 * the client alone) and keeps Redis near a few hundred bytes per queued event; the workers still
 * give every item its own outcome.
 */
import { Queue, RedisConnection, type JobsOptions } from 'bullmq';
import type { RedisClient as Redis } from './redis.ts';
import { jobKeyPrefix, QueueCatalog, queueName, type JobKind, type QueueRef } from './queue-catalog.ts';
import { bullPrefix } from './redis-keys.ts';

export { JOB_KINDS, type JobKind, type QueueRef } from './queue-catalog.ts';

export const MAX_ITEMS_PER_JOB = 100;

export const DEFAULT_LANE = 'default';

export interface JobPolicy {
  readonly attempts: number;
  readonly keepCompletedS: number;
  /** Dead letters: how long (s) and how many per queue are kept. Unset: kept until removed. */
  readonly keepFailedS?: number;
  readonly keepFailedCount?: number;
}

/** BullMQ owns retries: attempts and backoff are set once here; the strategy is workers/retry-policy.ts. */
export function defaultJobOptions(p: JobPolicy): JobsOptions {
  return {
    attempts: p.attempts,
    backoff: { type: 'relay' },
    removeOnComplete: { age: p.keepCompletedS, count: 100_000 },
    // Failed jobs are the dead letters: kept for an operator to inspect and replay, but not forever
    // — each holds up to 100 items of customer data, and a steady trickle of rejects would grow
    // Redis without bound. BullMQ trims them (age, then count) whenever a job of the queue fails.
    removeOnFail:
      p.keepFailedS !== undefined ? { age: p.keepFailedS, count: p.keepFailedCount } : p.keepFailedCount !== undefined ? { count: p.keepFailedCount } : false,
  };
}

/**
 * Defines BullMQ's Lua commands on a connection now, before any traffic. BullMQ defines them when
 * the first Queue on a connection opens, and queues open mid-traffic (one per class and source,
 * the first time a source sends). On an auto-pipelining connection (the API's was one until issue
 * 18) a command defined while a pipeline waits is missing from that pipeline (ioredis copies a
 * connection's commands into a pipeline when it creates it): the first add sent into it failed ('pipeline[functionName] is not
 * a function') and broke the pipeline ('results[i] is not iterable', uncaught; its other commands
 * never answered). Seen on a cluster, where BullMQ's version check can come back from another
 * node before that pipeline goes out (test/cluster/auto-pipeline.suite.ts). Same cause as our
 * own Lua commands' (src/lua/script.ts, LuaScript.define).
 *
 * A shared RedisConnection that does not wait for Redis defines them synchronously (it never
 * closes or blocks the connection it is given); its INFO-based version check is skipped here,
 * the queues still make it when they open.
 */
function defineBullCommands(connection: Redis): void {
  const c = new RedisConnection(connection as never, { shared: true, blocking: false, skipVersionCheck: true, skipWaitingForReady: true });
  c.close().catch(() => undefined);
}

/** Opens queues lazily and closes them together. */
export class Queues {
  private readonly open = new Map<string, Queue>();
  /** Which queues exist (the registry ingest writes and everyone else reads). */
  readonly catalog: QueueCatalog;

  constructor(
    private readonly connection: Redis,
    readonly prefix: string,
    private readonly policy: JobPolicy,
  ) {
    this.catalog = new QueueCatalog(connection, prefix);
    defineBullCommands(connection);
  }

  get(ref: QueueRef): Queue {
    const name = queueName(ref);
    let q = this.open.get(name);
    if (!q) {
      q = new Queue(name, {
        connection: this.connection as never,
        prefix: this.bullPrefix(ref.kind, ref.lane),
        defaultJobOptions: defaultJobOptions(this.policy),
      });
      this.open.set(name, q);
    }
    return q;
  }

  /** The BullMQ prefix shared by every queue of a kind and lane (src/redis-keys.ts). */
  bullPrefix(kind: JobKind, lane: string): string {
    return bullPrefix(this.prefix, kind, lane);
  }

  /** `<bullPrefix>:<queue>:` — what BullMQ puts before a job id of that queue. */
  jobKeyPrefix(ref: QueueRef): string {
    return jobKeyPrefix(this.prefix, ref);
  }

  all(): Queue[] {
    return [...this.open.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
    this.open.clear();
  }
}
