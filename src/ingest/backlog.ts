/**
 * Backpressure: above RELAY_MAX_QUEUED_JOBS jobs waiting in a queue (waiting, delayed), or
 * RELAY_MAX_QUEUED_BYTES bytes of accepted work not yet finished in it, ingest answers 503 with
 * Retry-After instead of growing Redis without bound — Redis runs with `noeviction`, and a full
 * Redis would refuse everything, dead letters included. Jobs alone did not bound memory: a job
 * holds 1 to 100 items of up to a few hundred KB each. Queues are per kind, lane, class and
 * source, so one source's import does not refuse another source's work.
 *
 * Counts are read once a second per queue seen, not per request; the byte counter is healed at the
 * same time when the queue is empty (src/ingest/queued-bytes.ts).
 */
import type { RedisClient as Redis } from '../redis.ts';
import type { Queues } from '../queues.ts';
import { queueName, type QueueRef } from '../queue-catalog.ts';
import { defineQueuedBytesCommands, healQueueBytes } from './queued-bytes.ts';

export class BacklogFullError extends Error {
  override readonly name = 'BacklogFullError';
}

export interface BacklogGuard {
  /** Throws BacklogFullError when the queue is over a limit (as of the last count). */
  check(ref: QueueRef): void;
  stop(): void;
}

export interface BacklogLimits {
  /** Jobs waiting or delayed per queue; 0 = no limit. */
  readonly maxJobs: number;
  /** Bytes queued and not finished per queue; 0 = no limit. */
  readonly maxBytes: number;
}

export function createBacklogGuard(queues: Queues, redis: Redis, limits: BacklogLimits, intervalMs = 1000): BacklogGuard {
  defineQueuedBytesCommands(redis); // before traffic (see there)
  const counts = new Map<string, { jobs: number; bytes: number }>();
  const watched = new Map<string, { ref: QueueRef; emptyAt: string }>();
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || watched.size === 0) return;
    busy = true;
    try {
      for (const [key, w] of watched) {
        const queue = queues.get(w.ref);
        // A paused queue keeps its jobs in `wait` (BullMQ 6).
        const [c, bytes] = await Promise.all([queue.getJobCounts('wait', 'delayed', 'prioritized'), healQueueBytes(redis, queue.qualifiedName, w.emptyAt)]);
        w.emptyAt = bytes.emptyAt;
        counts.set(key, { jobs: (c.wait ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), bytes: bytes.bytes });
      }
    } catch {
      // Redis away: the spool (or a 503) decides; keep the last counts.
    } finally {
      busy = false;
    }
  }, intervalMs);
  timer.unref();
  return {
    check(ref) {
      if (limits.maxJobs <= 0 && limits.maxBytes <= 0) return;
      const key = queueName(ref);
      if (!watched.has(key)) watched.set(key, { ref, emptyAt: '' });
      const n = counts.get(key);
      if (!n) return;
      if (limits.maxJobs > 0 && n.jobs >= limits.maxJobs) throw new BacklogFullError(`the queue ${key} holds ${n.jobs} jobs (limit ${limits.maxJobs})`);
      if (limits.maxBytes > 0 && n.bytes >= limits.maxBytes) {
        throw new BacklogFullError(`the queue ${key} holds ${n.bytes} bytes of work not yet delivered (limit ${limits.maxBytes}, RELAY_MAX_QUEUED_BYTES)`);
      }
    },
    stop: () => clearInterval(timer),
  };
}
